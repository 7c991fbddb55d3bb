#!/usr/bin/env python3
"""Batch mode's keyed operators with many more distinct keys than fit in their memory, with
`taskmanager.memory.managed.size` = `--managed`, into a csv file:
  --query group-by: `--keys` groups of a string key (some 150 bytes each in memory, about 10x the
    managed memory by default) from `--rows` generated rows;
  --query top-n: the two largest ids of each of those keys (ROW_NUMBER), counted per key;
  --query join: the rows joined on the key with a table of `--keys` rows that names each key,
    then counted per name (every row of both sides is held until the end of input).
Prints the wall and CPU seconds, the process's peak resident memory (the kernel's maximum RSS)
and checks the output has one row per key with the right counts.

Usage: bench/batch_memory_bench.py [--query group-by] [--keys 1000000] [--rows 3000000]
                                   [--managed 16m] [-p 1] [--set KEY=VALUE ..]
                                   [--binary target/release/ferroflink]
"""

import argparse
import glob
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from logs_bench import run_measured  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--query", choices=["group-by", "top-n", "join"], default="group-by")
    ap.add_argument("--keys", type=int, default=1_000_000)
    ap.add_argument("--rows", type=int, default=3_000_000)
    ap.add_argument("--managed", default="16m")
    ap.add_argument("-p", "--parallelism", type=int, default=1)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="a further SET of the script, e.g. state.backend.type=rocksdb")
    ap.add_argument("--binary", default=os.path.join(HERE, "..", "target", "release", "ferroflink"))
    args = ap.parse_args()
    out = tempfile.mkdtemp(prefix="ff-spill-out-")
    keyed = {
        "group-by": "SELECT CONCAT('customer-', CAST(MOD(id, {keys}) AS STRING)) AS k, id FROM t",
        "top-n": """SELECT k, id FROM (
  SELECT k, id, ROW_NUMBER() OVER (PARTITION BY k ORDER BY id DESC) AS rn
  FROM (SELECT CONCAT('customer-', CAST(MOD(id, {keys}) AS STRING)) AS k, id FROM t))
WHERE rn <= 2""",
        "join": "SELECT c.name AS k, t.id FROM t JOIN c ON MOD(t.id, {keys}) = c.id",
    }[args.query].format(keys=args.keys)
    script = """
SET 'execution.runtime-mode' = 'batch';
SET 'taskmanager.memory.managed.size' = '{managed}';
{sets}
CREATE TABLE t (id BIGINT) WITH ('connector' = 'datagen', 'number-of-rows' = '{rows}', 'rows-per-second' = '1000000000',
  'fields.id.kind' = 'sequence', 'fields.id.start' = '0', 'fields.id.end' = '{last}');
CREATE TABLE c (id BIGINT, name AS CONCAT('customer-', CAST(id AS STRING))) WITH ('connector' = 'datagen',
  'number-of-rows' = '{keys}', 'rows-per-second' = '1000000000',
  'fields.id.kind' = 'sequence', 'fields.id.start' = '0', 'fields.id.end' = '{last_key}');
CREATE TABLE o (k STRING, hits BIGINT, total BIGINT) WITH ('connector' = 'filesystem', 'path' = '{out}', 'format' = 'csv');
INSERT INTO o SELECT k, COUNT(*), SUM(id) FROM ({keyed}) GROUP BY k;
""".format(managed=args.managed, rows=args.rows, last=args.rows - 1, out=out, keys=args.keys,
           last_key=args.keys - 1, keyed=keyed,
           sets="\n".join("SET '%s' = '%s';" % tuple(kv.split("=", 1)) for kv in args.set))
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
        f.write(script)
    cpu, wall, rss = run_measured([args.binary, "sql", "-f", f.name, "-p", str(args.parallelism)])
    os.unlink(f.name)
    lines = []
    for name in glob.glob(os.path.join(out, "*")):
        if not os.path.basename(name).startswith((".", "_")):
            lines += open(name).read().splitlines()
    subprocess.run(["rm", "-rf", out])
    hits = {}
    for line in lines:
        k, n, _ = line.split(",")
        hits[k] = int(n)
    per_key = [args.rows // args.keys + (1 if i < args.rows % args.keys else 0) for i in range(args.keys)]
    if args.query == "top-n":
        per_key = [min(n, 2) for n in per_key]
    right = len(lines) == args.keys and all(hits.get("customer-%d" % i) == n for i, n in enumerate(per_key))
    print("%s: %d rows, %d keys, managed %s, parallelism %d: wall %.1f s, CPU %.1f s, peak RSS %.0f MiB, %s"
          % (args.query, args.rows, args.keys, args.managed, args.parallelism, wall, cpu, rss,
             "every key once with its count" if right else "WRONG OUTPUT (%d rows)" % len(lines)))
    sys.exit(0 if right else 1)


if __name__ == "__main__":
    main()
