#!/usr/bin/env bash
# Regenerates the Flink window golden files:
#   ../events.csv              (deterministic, from ../gen_events.py)
#   tumbling.csv, tumbling_late.csv, sliding.csv, sliding_late.csv,
#   session.csv, session_late.csv   (produced by Apache Flink, sorted)
# then cross-checks them with check_golden.py.
#
# Needs: python3 + pip (PyPI), Java 17 (javac, java).  The Flink jars come
# from the apache-flink PyPI package (installed here if missing).
# Usage: worker/tests/golden/flink/regenerate.sh   (from any directory)
set -euo pipefail

FLINK_VERSION="${FLINK_VERSION:-2.3.0}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
GOLDEN="$(dirname "$HERE")"
PY="${PYTHON:-python3}"

pyflink_dir() {
    "$PY" -c 'import os, pyflink; print(os.path.dirname(pyflink.__file__))' 2>/dev/null
}
pyflink_version() {
    "$PY" -c 'from importlib.metadata import version; print(version("apache-flink"))' 2>/dev/null
}

if [ "$(pyflink_version || true)" != "$FLINK_VERSION" ]; then
    echo "== installing apache-flink==$FLINK_VERSION from PyPI"
    "$PY" -m pip install --quiet "apache-flink==$FLINK_VERSION"
fi
FLINK_LIB="$(pyflink_dir)/lib"
[ -f "$FLINK_LIB/flink-dist-$FLINK_VERSION.jar" ] || { echo "flink-dist jar not found in $FLINK_LIB" >&2; exit 1; }
echo "== Flink $(pyflink_version) jars: $FLINK_LIB"

echo "== generating events.csv"
"$PY" "$GOLDEN/gen_events.py"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

echo "== compiling GoldenWindows.java"
javac -J-XX:ActiveProcessorCount=1 -cp "$FLINK_LIB/*" -d "$WORK/classes" "$HERE/GoldenWindows.java"

echo "== running the Flink jobs (local MiniCluster, parallelism 1)"
if ! java -XX:ActiveProcessorCount=1 -Xmx1g -cp "$FLINK_LIB/*:$WORK/classes" \
        GoldenWindows "$GOLDEN/events.csv" "$WORK/raw" >"$WORK/run.log" 2>&1; then
    tail -50 "$WORK/run.log" >&2
    exit 1
fi
grep -E 'window firings' "$WORK/run.log"

echo "== sorting outputs into $HERE"
"$PY" - "$WORK/raw" "$HERE" <<'PYEOF'
import os, sys
src, dst = sys.argv[1], sys.argv[2]
for name in ("tumbling", "sliding", "session"):
    for suffix in ("", "_late"):
        fn = f"{name}{suffix}.csv"
        with open(os.path.join(src, fn)) as f:
            lines = sorted(l.rstrip("\n") for l in f if l.strip())
        with open(os.path.join(dst, fn), "w") as f:
            f.write("".join(l + "\n" for l in lines))
        print(f"{len(lines):5d} {fn}")
PYEOF

echo "== cross-checking"
"$PY" "$HERE/check_golden.py" "$GOLDEN/events.csv" "$HERE"
