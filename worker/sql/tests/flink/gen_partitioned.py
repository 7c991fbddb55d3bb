#!/usr/bin/env python3
"""Runs tests/files/partitioned.sql on Apache Flink 2.3 in batch mode with `${OUT}` a fresh
directory, and writes what it left there to tests/golden/partitioned.tsv, which
tests/partitioned_files.rs checks ferroflink's output against: `file<TAB>partition
directory<TAB>line` for each line of each committed file and `success<TAB>partition directory`
for each success file, sorted. (Flink 2.3 cannot read such a table back: a `__DEFAULT_PARTITION__`
directory fails its reader with "Path should not be null or empty", and so does a DATE partition
it wrote.)

Usage: gen_partitioned.py [--check]
Needs: pip install apache-flink==2.3.0 (Java 17).
"""

import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run_sql  # noqa: E402

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def listing(out):
    """The committed files' lines and the success files under `out`, as golden lines."""
    lines = []
    for root, dirs, files in os.walk(out):
        dirs[:] = [d for d in dirs if not d.startswith((".", "_"))]
        rel = os.path.relpath(root, out)
        for name in files:
            if name == "_SUCCESS":
                lines.append("success\t" + rel)
            elif not name.startswith((".", "_")):
                with open(os.path.join(root, name), encoding="utf-8") as f:
                    lines.extend("file\t%s\t%s" % (rel, l.rstrip("\n")) for l in f)
    return lines


def run(script):
    """Runs the script's statements in batch mode."""
    from pyflink.table import EnvironmentSettings, TableEnvironment

    run_sql.execute(TableEnvironment.create(EnvironmentSettings.in_batch_mode()), run_sql.statements(script))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    with open(os.path.join(TESTS, "files", "partitioned.sql"), encoding="utf-8") as f:
        script = f.read()
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out")
        run(script.replace("${OUT}", out))
        lines = sorted(listing(out))
    path = os.path.join(TESTS, "golden", "partitioned.tsv")
    if args.check:
        with open(path, encoding="utf-8") as f:
            same = [l.rstrip("\n") for l in f if not l.startswith("#")] == lines
        print("partitioned: " + ("same as Flink" if same else "DIFFERS from Flink"))
        sys.exit(0 if same else 1)
    with open(path, "w", encoding="utf-8") as f:
        f.write("# Made by tests/flink/gen_partitioned.py from Apache Flink 2.3's run of tests/files/partitioned.sql\n")
        f.writelines(l + "\n" for l in lines)


if __name__ == "__main__":
    main()
