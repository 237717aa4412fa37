# SPDX-License-Identifier: MIT
"""bench/programs/pyobjects.py — a CPU-bound, object-heavy Python workload.

Run by bench/suites/real.sh under /usr/bin/python3, once with
PYTHONMALLOC=malloc (every object allocation goes to the malloc under test)
and once with Python's own pymalloc (the reference row).  It exercises what
CPython programs allocate most: small tuples, lists, dicts, str and int
objects with mixed lifetimes.

  binary_trees   the Benchmarks Game's GC stress: many short-lived trees
                 while one long-lived tree stays alive;
  records        build, index, group and serialise a list of dict records
                 (a JSON-ish data-processing pipeline);
  strings        split/join/format churn on generated text.

Usage: pyobjects.py [ROUNDS=1] [DEPTH=14] [RECORDS=60000] [LINES=40000]
(the defaults take about 0.9 s under glibc on a 2.4 GHz EPYC core).
Prints one checksum line that depends only on the arguments.
"""

import sys


def make_tree(depth):
    if depth == 0:
        return (None, None)
    depth -= 1
    return (make_tree(depth), make_tree(depth))


def check_tree(node):
    left, right = node
    if left is None:
        return 1
    return 1 + check_tree(left) + check_tree(right)


def binary_trees(max_depth):
    total = 0
    long_lived = make_tree(max_depth)
    for depth in range(4, max_depth + 1, 2):
        iterations = 2 ** (max_depth - depth + 4)
        for _ in range(iterations):
            total += check_tree(make_tree(depth))
    return total + check_tree(long_lived)


def records(n):
    rows = []
    for i in range(n):
        rows.append({
            "id": i,
            "name": "user%05d" % (i % 9973),
            "group": "g%d" % (i % 37),
            "score": (i * 7919) % 1000 / 10.0,
            "tags": ["t%d" % (i % 5), "t%d" % (i % 11)],
        })
    by_group = {}
    for row in rows:
        by_group.setdefault(row["group"], []).append(row)
    summary = []
    for group, members in sorted(by_group.items()):
        members.sort(key=lambda r: (-r["score"], r["id"]))
        top = [(m["name"], m["score"]) for m in members[:10]]
        summary.append((group, len(members), sum(m["score"] for m in members), top))
    out = []
    for group, count, total, top in summary:
        out.append("%s,%d,%.1f,%s" % (group, count, total, ";".join("%s:%.1f" % t for t in top)))
    return sum(len(s) for s in out) + len(rows)


def strings(n):
    words = ["alloc", "pool", "arena", "block", "free", "heap", "page", "class"]
    acc = 0
    for i in range(n):
        line = " ".join(words[(i + k) % len(words)] * (1 + (i + k) % 3) for k in range(12))
        parts = line.split()
        acc += len("-".join(p.upper() for p in parts if len(p) > 4))
        acc += len({p: i for p in parts})
    return acc


def main():
    args = [int(a) for a in sys.argv[1:]] + [1, 14, 60000, 40000][len(sys.argv) - 1:]
    rounds, depth, nrecords, nlines = args[:4]
    result = 0
    for _ in range(rounds):
        result += binary_trees(depth)
        result += records(nrecords)
        result += strings(nlines)
    print("pyobjects: checksum %d" % result)


if __name__ == "__main__":
    main()
