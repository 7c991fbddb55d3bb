#!/usr/bin/env python3
"""The SQL benchmarks, side by side with Apache Flink: the same SQL text (bench/sql/bid.sql, the
Nexmark bid as a datagen table, then bench/sql/<query>.sql into a blackhole) run by
`ferroflink sql` and by PyFlink's mini-cluster, both at parallelism 1. The figure is events per
CPU-second (user + sys of the engine's process) after start-up: the CPU of a run of --small rows
is subtracted from that of a run of --rows rows, and the difference in rows divided by it.

With --nexmark DIR (the nexmark repository's nexmark-flink/src/main/resources/queries), the
queries are the repository's qN.sql over bench/sql/bid.sql and bench/sql/nexmark_datagen.sql
(bids, auctions and persons as datagen tables, 46 : 3 : 1), and the events of a run are the rows of
the tables the query reads.

Usage: bench/sql_bench.py [--engines ferroflink,flink] [--rows 10000000] [--small 100000]
                          [--runs 3] [--parallelism 1] [--nexmark DIR]
                          [--binary target/release/ferroflink] q1 q2 ...
Needs for Flink: pip install apache-flink==2.3.0 (Java 17).
"""

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))

# The end of a PyFlink runner: prints the user+sys CPU seconds of its JVM (its child processes).
PRINT_JVM_CPU = r"""
ticks = os.sysconf("SC_CLK_TCK")
cpu = 0.0
for pid in os.listdir("/proc"):
    if not pid.isdigit():
        continue
    try:
        stat = open("/proc/%s/stat" % pid).read().rsplit(")", 1)[1].split()
    except OSError:
        continue
    if int(stat[1]) == os.getpid():
        cpu += (int(stat[11]) + int(stat[12])) / ticks
print("CPU", cpu)
"""

# Runs a script's statements on PyFlink, then prints the user+sys CPU seconds of its JVM.
FLINK_RUNNER = r"""
import os, re, sys
from pyflink.table import EnvironmentSettings, TableEnvironment
text = open(sys.argv[1]).read()
text = re.sub(r"--[^\n]*", "", text)
t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
t_env.get_config().set("parallelism.default", sys.argv[2])
for stmt in [s.strip() for s in text.split(";") if s.strip()]:
    result = t_env.execute_sql(stmt)
    if result.get_job_client() is not None:
        result.wait()
""" + PRINT_JVM_CPU


def read(*path):
    with open(os.path.join(*path)) as f:
        return f.read()


def sizes(rows):
    """The rows of the bid, auction and person tables when there are `rows` bids."""
    return {"bid": rows, "auction": max(rows * 3 // 46, 1), "person": max(rows // 46, 1)}


def script(query, rows, nexmark):
    tables = read(HERE, "sql", "bid.sql").replace("{rows}", str(rows))
    if not nexmark:
        return tables + "\n" + read(HERE, "sql", query + ".sql")
    n = sizes(rows)
    tables += read(HERE, "sql", "nexmark_datagen.sql")
    for table in ("auction", "person"):
        tables = tables.replace("{%ss}" % table, str(n[table])).replace("{%s_end}" % table, str(999 + n[table]))
    text = read(nexmark, query + ".sql")
    if "${NEXMARK_DIR}" in text:  # q10's files, left in a fresh temporary directory
        text = text.replace("${NEXMARK_DIR}", tempfile.mkdtemp(prefix="nexmark-")).replace("${SUBMIT_TIME}", "bench")
    return tables + "\n" + text


def events(query, rows, nexmark):
    """The rows a run of `query` reads: its tables' (every bid without --nexmark)."""
    if not nexmark:
        return rows
    text = re.sub(r"--[^\n]*", "", read(nexmark, query + ".sql"))
    # `FROM t`, `JOIN t`, `TABLE t`, and `, t B WHERE` (a join by commas).
    pattern = r"(?:FROM|JOIN|TABLE)\s+(bid|auction|person)\b|,\s*(bid|auction|person)\s+\w+\s+WHERE"
    read_tables = set(t.lower() for match in re.findall(pattern, text, re.I) for t in match if t)
    return sum(n for table, n in sizes(rows).items() if table in read_tables)


def cpu_of(command):
    """Runs `command`; returns the user+sys CPU seconds of it and its waited-for children."""
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate()
    if proc.returncode != 0:
        sys.exit("%s failed:\n%s" % (" ".join(command), err[-2000:]))
    return out


def ferroflink_cpu(binary, text, parallelism):
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
        f.write(text)
    before = os.times()
    cpu_of([binary, "sql", "-f", f.name, "-p", str(parallelism)])
    after = os.times()
    os.unlink(f.name)
    return (after.children_user - before.children_user) + (after.children_system - before.children_system)


def flink_cpu(text, parallelism):
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
        f.write(text)
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as r:
        r.write(FLINK_RUNNER)
    out = cpu_of([sys.executable, r.name, f.name, str(parallelism)])
    os.unlink(f.name)
    os.unlink(r.name)
    return float(out.split("CPU")[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--engines", default="ferroflink,flink")
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--small", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--parallelism", type=int, default=1)
    ap.add_argument("--nexmark", help="the nexmark repository's query directory")
    ap.add_argument("--binary", default=os.path.join(HERE, "..", "target", "release", "ferroflink"))
    ap.add_argument("queries", nargs="+")
    args = ap.parse_args()
    print("%-12s %-6s %12s %14s   %s" % ("engine", "query", "rows", "events/CPU-s", "runs"))
    for engine in args.engines.split(","):
        for query in args.queries:
            def measure(n):
                text = script(query, n, args.nexmark)
                if engine == "ferroflink":
                    return ferroflink_cpu(args.binary, text, args.parallelism)
                return flink_cpu(text, args.parallelism)
            big_events = events(query, args.rows, args.nexmark)
            figures = []
            for _ in range(args.runs):
                small, big = measure(args.small), measure(args.rows)
                figures.append((big_events - events(query, args.small, args.nexmark)) / max(big - small, 1e-9))
            print("%-12s %-6s %12d %14.0f   %s" % (
                engine, query, big_events, statistics.median(figures), " / ".join("%.0f" % f for f in figures)))
            sys.stdout.flush()


if __name__ == "__main__":
    main()
