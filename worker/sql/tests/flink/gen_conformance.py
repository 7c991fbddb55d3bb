#!/usr/bin/env python3
"""Runs the SQL conformance scripts (tests/conformance/<name>.sql) on Apache Flink 2.3 and writes
the changelog of each script's last statement to tests/golden/conformance/<name>.tsv (`${DATA}` in
a script is the absolute path of tests/data), which
tests/conformance.rs checks ferroflink's rows against (the changelog applied, at parallelism 1 and
4, in streaming and in batch mode: a streaming script is run by Flink in batch mode too, and must
give the same final rows). With names, redoes those scripts only; --check compares with the files instead of writing.

Usage: gen_conformance.py [--check] [name ...]
Needs: pip install apache-flink==2.3.0 (Java 17).
"""

import argparse
import collections
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run_sql  # noqa: E402

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def final_rows(lines):
    """The changelog applied: the rows left, as a sorted list."""
    rows = collections.Counter()
    for line in lines:
        kind, _, row = line.partition("\t")
        rows[row] += 1 if kind in ("+I", "+U") else -1
    return sorted(r for r, n in rows.items() for _ in range(n))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true")
    ap.add_argument("names", nargs="*")
    args = ap.parse_args()
    scripts = os.path.join(TESTS, "conformance")
    names = args.names or sorted(f[:-4] for f in os.listdir(scripts) if f.endswith(".sql"))
    out_dir = os.path.join(TESTS, "golden", "conformance")
    os.makedirs(out_dir, exist_ok=True)
    failed = False
    for name in names:
        with open(os.path.join(scripts, name + ".sql"), encoding="utf-8") as f:
            script = f.read().replace("${DATA}", os.path.join(TESTS, "data"))
        lines = run_sql.run(script)
        # tests/conformance.rs runs a streaming script in batch mode too, against the same rows:
        # Flink's batch run must give them.
        if "'execution.runtime-mode'" not in script:
            batch = run_sql.run("SET 'execution.runtime-mode' = 'batch';\n" + script)
            if final_rows(batch) != final_rows(lines):
                print("%s: Flink's rows in batch mode differ from its streaming ones" % name)
                failed = True
                continue
        path = os.path.join(out_dir, name + ".tsv")
        if args.check:
            with open(path, encoding="utf-8") as f:
                golden = [l.rstrip("\n") for l in f if not l.startswith("#")]
            same = final_rows(golden) == final_rows(lines)
            failed |= not same
            print("%s: %s" % (name, "same" if same else "DIFFERS"))
            continue
        with open(path, "w", encoding="utf-8") as f:
            f.write("# %s.sql on Apache Flink 2.3 (tests/flink/gen_conformance.py)\n" % name)
            for line in lines:
                f.write(line + "\n")
        print("wrote %d rows to %s" % (len(lines), path))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
