# SPDX-License-Identifier: MIT
"""bench/programs/gen-sqlite.py — writes the SQL script for the sqlite3 benchmark.

Run by bench/suites/real.sh; the script it writes is then fed to Debian's
sqlite3 (an in-memory database) under each allocator.  SQLite allocates
its page cache, parse trees, prepared statements and row values through
malloc, so the workload is allocation-heavy in the ways a database is:
bulk inserts into indexed tables, joins, GROUP BY with sorting, string
functions, updates and deletes that free and reuse pages.

Usage: gen-sqlite.py ROWS > workload.sql
The generated text depends only on ROWS (fixed seed), and so does the
output sqlite3 prints for it.
"""

import random
import sys


def main():
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 100000
    rnd = random.Random(1234)
    out = sys.stdout
    out.write("PRAGMA cache_size=-65536;\n")
    out.write("CREATE TABLE customer(id INTEGER PRIMARY KEY, name TEXT, city TEXT, score REAL);\n")
    out.write("CREATE TABLE orders(id INTEGER PRIMARY KEY, cust INTEGER, item TEXT, qty INTEGER, price REAL);\n")
    out.write("CREATE INDEX orders_cust ON orders(cust);\n")
    out.write("CREATE INDEX customer_city ON customer(city);\n")
    ncust = max(rows // 10, 10)
    cities = ["city%02d" % i for i in range(50)]
    out.write("BEGIN;\n")
    for i in range(ncust):
        out.write("INSERT INTO customer VALUES(%d,'%s','%s',%.2f);\n"
                  % (i, "name%06d" % rnd.randrange(10 ** 6), rnd.choice(cities), rnd.random() * 100))
    for i in range(rows):
        out.write("INSERT INTO orders VALUES(%d,%d,'%s',%d,%.2f);\n"
                  % (i, rnd.randrange(ncust), "item-" + "x" * rnd.randrange(1, 40),
                     rnd.randrange(1, 20), rnd.random() * 500))
    out.write("COMMIT;\n")
    out.write("SELECT city, count(*), round(sum(qty*price),2) FROM customer JOIN orders ON orders.cust=customer.id "
              "GROUP BY city ORDER BY 3 DESC LIMIT 5;\n")
    out.write("SELECT max(l), min(l) FROM (SELECT length(group_concat(name)) AS l FROM customer JOIN orders "
              "ON cust=customer.id GROUP BY city);\n")
    out.write("CREATE TABLE summary AS SELECT cust, upper(item) AS item, sum(qty) AS q FROM orders GROUP BY cust, item;\n")
    out.write("UPDATE orders SET item = item || '-updated' WHERE qty % 3 = 0;\n")
    out.write("DELETE FROM orders WHERE qty % 4 = 0;\n")
    out.write("SELECT count(*), sum(length(item)) FROM orders;\n")
    out.write("SELECT count(*), sum(q) FROM summary;\n")
    out.write("SELECT name FROM customer ORDER BY substr(name, 5) || city LIMIT 3;\n")


if __name__ == "__main__":
    main()
