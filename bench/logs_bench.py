#!/usr/bin/env python3
"""The access-log batch job (issue 16's shape), side by side with Apache Flink: generated access
logs in Apache's combined format (0.1% of lines cut short), read as `raw` lines, parsed with
REGEXP_EXTRACT, aggregated per hour and status (COUNT, SUM, MAX) and ranked for the top 10 paths
per hour, both into `csv` files through one statement set, in batch mode at parallelism 1.

The figure is MB of input per CPU-second (user + sys of the engine's processes) after start-up: the
CPU of a run over --small MB is subtracted from that of a run over --mb MB. Both engines' outputs
are compared (the same rows) on the small input.

For ferroflink it then runs the job over --mb MB at parallelism 1 and 2 with default settings and
prints each run's wall time and peak resident memory (the kernel's maximum RSS of the process).

Usage: bench/logs_bench.py [--engines ferroflink,flink] [--mb 200] [--small 10] [--runs 3]
                           [--binary target/release/ferroflink] [--dir /tmp/ff-logs]
Needs for Flink: pip install apache-flink==2.3.0 (Java 17).
"""

import argparse
import glob
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from sql_bench import PRINT_JVM_CPU, cpu_of  # noqa: E402

PATHS = ["/", "/index.html", "/login", "/logout", "/cart", "/checkout", "/search", "/api/items",
         "/api/orders", "/static/app.js", "/static/app.css", "/img/logo.png", "/help", "/about"]
PATHS += ["/items/%d" % i for i in range(400)]
AGENTS = ["Mozilla/5.0 (X11; Linux x86_64)", "curl/8.5.0", "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_2)"]
STATUSES = [200] * 40 + [304] * 5 + [404] * 3 + [500, 302]


def generate(directory, mb, files=4, seed=7):
    """`mb` MB of log lines in `files` files under `directory` (made once, then reused)."""
    marker = os.path.join(directory, "_complete")
    if os.path.exists(marker):
        return
    os.makedirs(directory, exist_ok=True)
    rng = random.Random(seed)
    per_file = mb * 1_000_000 // files
    for f in range(files):
        with open(os.path.join(directory, "access-%02d.log" % f), "w") as out:
            written = 0
            while written < per_file:
                hour, minute, second = rng.randrange(24), rng.randrange(60), rng.randrange(60)
                path = PATHS[min(int(rng.paretovariate(1.2)) - 1, len(PATHS) - 1)] if rng.random() < 0.7 else rng.choice(PATHS)
                line = '10.%d.%d.%d - - [07/Dec/2026:%02d:%02d:%02d +0000] "GET %s HTTP/1.1" %d %d "-" "%s"\n' % (
                    rng.randrange(256), rng.randrange(256), rng.randrange(256), hour, minute, second, path,
                    rng.choice(STATUSES), rng.randrange(100, 50_000), rng.choice(AGENTS))
                if rng.random() < 0.001:
                    line = line[: rng.randrange(5, len(line) - 1)] + "\n"
                out.write(line)
                written += len(line)
    open(marker, "w").close()


def script(logs, out):
    return """
SET 'execution.runtime-mode' = 'batch';
CREATE TABLE logs (line STRING) WITH ('connector' = 'filesystem', 'path' = '{logs}', 'format' = 'raw');
CREATE TABLE by_status (hr STRING, status INT, hits BIGINT, total_size BIGINT, largest BIGINT)
  WITH ('connector' = 'filesystem', 'path' = '{out}/status', 'format' = 'csv');
CREATE TABLE top_paths (hr STRING, path STRING, hits BIGINT, rn BIGINT)
  WITH ('connector' = 'filesystem', 'path' = '{out}/paths', 'format' = 'csv');
CREATE VIEW parsed AS SELECT
  REGEXP_EXTRACT(line, '\\[\\d+/\\w+/\\d+:(\\d\\d):', 1) AS hr,
  CAST(REGEXP_EXTRACT(line, '" (\\d\\d\\d) \\d+ ', 1) AS INT) AS status,
  CAST(REGEXP_EXTRACT(line, '" \\d\\d\\d (\\d+) ', 1) AS BIGINT) AS size,
  REGEXP_EXTRACT(line, '"GET ([^ ]+) HTTP', 1) AS path
FROM logs;
EXECUTE STATEMENT SET BEGIN
INSERT INTO by_status SELECT hr, status, COUNT(*), SUM(size), MAX(size)
  FROM parsed WHERE status IS NOT NULL GROUP BY hr, status;
INSERT INTO top_paths SELECT hr, path, hits, rn FROM (
  SELECT hr, path, hits, ROW_NUMBER() OVER (PARTITION BY hr ORDER BY hits DESC, path) AS rn
  FROM (SELECT hr, path, COUNT(*) AS hits FROM parsed WHERE path IS NOT NULL AND status IS NOT NULL GROUP BY hr, path))
WHERE rn <= 10;
END;
""".format(logs=logs, out=out)


# Runs the script on PyFlink in batch mode (its SET as configuration, its statement set as one),
# then prints the user+sys CPU seconds of its JVM.
FLINK_RUNNER = r"""
import os, re, sys
from pyflink.table import EnvironmentSettings, TableEnvironment
text = open(sys.argv[1]).read()
t_env = TableEnvironment.create(EnvironmentSettings.in_batch_mode())
t_env.get_config().set("parallelism.default", "1")
body = text.split("EXECUTE STATEMENT SET BEGIN")
for stmt in [s.strip() for s in body[0].split(";") if s.strip()]:
    if not stmt.upper().startswith("SET "):
        t_env.execute_sql(stmt)
statements = t_env.create_statement_set()
for stmt in [s.strip() for s in body[1].replace("END;", "").split(";") if s.strip()]:
    statements.add_insert_sql(stmt)
statements.execute().wait()
""" + PRINT_JVM_CPU


def rows(out):
    """The output rows of both sinks, sorted (hidden and in-progress files left out)."""
    found = []
    for sink in ("status", "paths"):
        for f in glob.glob(os.path.join(out, sink, "**", "*"), recursive=True):
            if os.path.isfile(f) and not os.path.basename(f).startswith((".", "_")):
                found += [sink + "," + line.rstrip("\n") for line in open(f) if line.strip()]
    return sorted(found)


def run_measured(command):
    """Runs `command`: its user+sys CPU seconds, wall seconds and peak resident MiB."""
    with tempfile.TemporaryFile() as err:
        start = time.time()
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.time() - start
        if status != 0:
            err.seek(0)
            sys.exit("%s failed:\n%s" % (" ".join(command), err.read()[-2000:].decode(errors="replace")))
    return usage.ru_utime + usage.ru_stime, wall, usage.ru_maxrss / 1024


def measure(engine, binary, logs, parallelism=1):
    """CPU seconds of one run over `logs`, its output rows, and (ferroflink) its wall seconds and
    peak resident MiB."""
    out = tempfile.mkdtemp(prefix="ff-logs-out-")
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
        f.write(script(logs, out))
    wall = rss = None
    if engine == "ferroflink":
        cpu, wall, rss = run_measured([binary, "sql", "-f", f.name, "-p", str(parallelism)])
    else:
        with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as r:
            r.write(FLINK_RUNNER)
        cpu = float(cpu_of([sys.executable, r.name, f.name]).split("CPU")[-1])
        os.unlink(r.name)
    os.unlink(f.name)
    result = rows(out)
    subprocess.run(["rm", "-rf", out])
    return cpu, result, wall, rss


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--engines", default="ferroflink,flink")
    ap.add_argument("--mb", type=int, default=200)
    ap.add_argument("--small", type=int, default=10)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--binary", default=os.path.join(HERE, "..", "target", "release", "ferroflink"))
    ap.add_argument("--dir", default=os.path.join(tempfile.gettempdir(), "ff-logs"))
    args = ap.parse_args()
    small, big = os.path.join(args.dir, "%dmb" % args.small), os.path.join(args.dir, "%dmb" % args.mb)
    generate(small, args.small)
    generate(big, args.mb)
    outputs = {}
    print("%-12s %8s %14s   %s" % ("engine", "MB", "MB/CPU-s", "runs"))
    for engine in args.engines.split(","):
        figures = []
        for _ in range(args.runs):
            (cpu_small, outputs[engine], _, _), (cpu_big, _, _, _) = measure(engine, args.binary, small), measure(
                engine, args.binary, big)
            figures.append((args.mb - args.small) / max(cpu_big - cpu_small, 1e-9))
        print("%-12s %8d %14.1f   %s" % (engine, args.mb, statistics.median(figures),
                                       " / ".join("%.1f" % f for f in figures)))
        sys.stdout.flush()
    if "ferroflink" in args.engines.split(","):
        for parallelism in (1, 2):
            cpu, result, wall, rss = measure("ferroflink", args.binary, big, parallelism)
            print("ferroflink over %d MB at parallelism %d: wall %.2f s, CPU %.2f s, peak RSS %.0f MiB, %d rows"
                  % (args.mb, parallelism, wall, cpu, rss, len(result)))
    if len(outputs) == 2:
        a, b = outputs.values()
        print("outputs on %d MB: %s (%d rows)" % (args.small, "the same" if a == b else "DIFFER", len(a)))


if __name__ == "__main__":
    main()
