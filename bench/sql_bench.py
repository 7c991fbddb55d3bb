#!/usr/bin/env python3
"""The SQL benchmarks, side by side with Apache Flink: the same SQL text (bench/sql/bid.sql, the
Nexmark bid as a datagen table, then bench/sql/<query>.sql into a blackhole) run by
`ferroflink sql` and by PyFlink's mini-cluster, both at parallelism 1. The figure is events per
CPU-second (user + sys of the engine's process) after start-up: the CPU of a run of --small rows
is subtracted from that of a run of --rows rows, and the difference in rows divided by it.

Usage: bench/sql_bench.py [--engines ferroflink,flink] [--rows 10000000] [--small 100000]
                          [--runs 3] [--binary target/release/ferroflink] q1 q2 ...
Needs for Flink: pip install apache-flink==2.3.0 (Java 17).
"""

import argparse
import os
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
t_env.get_config().set("parallelism.default", "1")
for stmt in [s.strip() for s in text.split(";") if s.strip()]:
    result = t_env.execute_sql(stmt)
    if result.get_job_client() is not None:
        result.wait()
""" + PRINT_JVM_CPU


def script(query, rows):
    with open(os.path.join(HERE, "sql", "bid.sql")) as f:
        bid = f.read().replace("{rows}", str(rows))
    with open(os.path.join(HERE, "sql", query + ".sql")) as f:
        return bid + "\n" + f.read()


def cpu_of(command):
    """Runs `command`; returns the user+sys CPU seconds of it and its waited-for children."""
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate()
    if proc.returncode != 0:
        sys.exit("%s failed:\n%s" % (" ".join(command), err[-2000:]))
    return out


def ferroflink_cpu(binary, query, rows):
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
        f.write(script(query, rows))
    before = os.times()
    cpu_of([binary, "sql", "-f", f.name, "-p", "1"])
    after = os.times()
    os.unlink(f.name)
    return (after.children_user - before.children_user) + (after.children_system - before.children_system)


def flink_cpu(query, rows):
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
        f.write(script(query, rows))
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as r:
        r.write(FLINK_RUNNER)
    out = cpu_of([sys.executable, r.name, f.name])
    os.unlink(f.name)
    os.unlink(r.name)
    return float(out.split("CPU")[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--engines", default="ferroflink,flink")
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--small", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--binary", default=os.path.join(HERE, "..", "target", "release", "ferroflink"))
    ap.add_argument("queries", nargs="+")
    args = ap.parse_args()
    print("%-12s %-6s %12s %14s   %s" % ("engine", "query", "rows", "events/CPU-s", "runs"))
    for engine in args.engines.split(","):
        for query in args.queries:
            measure = (lambda n: ferroflink_cpu(args.binary, query, n)) if engine == "ferroflink" else (
                lambda n: flink_cpu(query, n))
            figures = []
            for _ in range(args.runs):
                small, big = measure(args.small), measure(args.rows)
                figures.append((args.rows - args.small) / max(big - small, 1e-9))
            print("%-12s %-6s %12d %14.0f   %s" % (
                engine, query, args.rows, statistics.median(figures), " / ".join("%.0f" % f for f in figures)))
            sys.stdout.flush()


if __name__ == "__main__":
    main()
