#!/bin/sh
# SPDX-License-Identifier: MIT
# tests/preload/python.sh — python3 doing real work on poolmalloc.
# PYTHONMALLOC=malloc makes CPython send every object allocation to malloc
# instead of its own obmalloc, so poolmalloc serves all of them.  The
# workload builds dicts, lists and sets, round-trips JSON, sorts, uses regular
# expressions, big integers, threads and a subprocess; its output (digests
# and counts) must be identical with and without the preload.
. "$top_srcdir/tests/preload/preload.sh"

py=$(pm_python) || { echo "1..0 # SKIP no python3"; exit 0; }
cat >"$pm_tmp/work.py" <<'PY'
import hashlib, json, re, sys, threading, subprocess, collections, random

rng = random.Random(12345)
people = [{"id": i, "name": "person%d" % i, "tags": [rng.choice("abcdefgh") * rng.randint(1, 9)
           for _ in range(rng.randint(0, 6))], "score": rng.random()} for i in range(60000)]
text = json.dumps(people, sort_keys=True)
back = json.loads(text)
assert back == people
print("json", len(text), hashlib.sha256(text.encode()).hexdigest())

by_tag = collections.defaultdict(list)
for p in back:
    for t in p["tags"]:
        by_tag[t].append(p["id"])
print("tags", len(by_tag), sum(len(v) for v in by_tag.values()))

ranked = sorted(back, key=lambda p: (-p["score"], p["name"]))
print("top", [p["id"] for p in ranked[:5]])
words = re.findall(r"[a-z]+\d+", text)
print("words", len(words), len(set(words)))
print("bigint", hashlib.md5((3 ** 200000).to_bytes(40000, "little")).hexdigest())

results = [0] * 4
def work(k):
    d = {}
    for i in range(200000):
        d[(k, i % 5000)] = str(i) * (i % 7)
    results[k] = sum(len(v) for v in d.values())
ts = [threading.Thread(target=work, args=(k,)) for k in range(4)]
for t in ts: t.start()
for t in ts: t.join()
print("threads", results)
out = subprocess.run([sys.executable, "-c", "print(sum(range(10**6)))"], capture_output=True, text=True)
print("child", out.stdout.strip())
PY
tap_plan 2
pm_compare "python3 (PYTHONMALLOC=malloc) dicts, json, sort, regex, threads" \
  env PYTHONMALLOC=malloc PYTHONHASHSEED=0 "$py" "$pm_tmp/work.py"
pm_compare "python3 -m compileall of the stdlib json package" \
  env PYTHONMALLOC=malloc PYTHONHASHSEED=0 PYTHONDONTWRITEBYTECODE= \
  "$py" -c 'import json, pathlib, py_compile, sys, tempfile
src = pathlib.Path(json.__file__).parent
out = pathlib.Path(tempfile.mkdtemp())
for f in sorted(src.glob("*.py")):
    py_compile.compile(str(f), cfile=str(out / (f.name + "c")), doraise=True)
print(sorted(p.name for p in out.iterdir()))'
tap_done
