#!/usr/bin/env python3
"""Runs a Flink SQL script on Apache Flink (PyFlink's local mini-cluster) and prints the rows of
its last statement, a query, as the changelog `ferroflink sql --format tsv` prints: one row per
line, the row kind (+I, -U, +U, -D), then the columns, separated by tabs; NULL as \\N, booleans
as true/false, TIMESTAMP(p) as YYYY-MM-DD HH:MM:SS with p fraction digits, DECIMAL in plain
notation, DOUBLE as Java's Double.toString lays it out, a tab, newline or backslash in text
escaped. The other statements run first, in order (INSERTs to
their end).

This is the oracle of the SQL conformance suite: the suite's expected rows are what this prints.

Usage: run_sql.py [--parallelism N] script.sql > rows.tsv
Needs: pip install apache-flink==2.3.0 (Java 17).
"""

import argparse
import datetime
import decimal
import re
import sys


def pieces(text):
    """The text split on `;` outside quotes and comments, comments dropped, empty pieces left out."""
    out, cur, i, n = [], [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("--", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            i = n if j < 0 else j + 2
        elif c in "'`\"":
            j = i + 1
            while j < n and not (text[j] == c and not text.startswith(c * 2, j)):
                j += 2 if text.startswith(c * 2, j) else 1
            cur.append(text[i : j + 1])
            i = j + 1
        elif c == ";":
            out.append("".join(cur).strip())
            cur, i = [], i + 1
        else:
            cur.append(c)
            i += 1
    out.append("".join(cur).strip())
    return [p for p in out if p]


def statements(text):
    """The script's statements; a statement set (either form) as Flink's EXECUTE STATEMENT SET."""
    ps, out, i = pieces(text), [], 0
    while i < len(ps):
        client = re.fullmatch(r"(?is)BEGIN\s+STATEMENT\s+SET", ps[i])
        execute = re.match(r"(?is)EXECUTE\s+STATEMENT\s+SET\s+BEGIN\s+(.*)", ps[i])
        if not (client or execute):
            out.append(ps[i])
            i += 1
            continue
        inserts = [] if client else [execute.group(1)]
        i += 1
        while i < len(ps) and not re.fullmatch(r"(?is)END", ps[i]):
            inserts.append(ps[i])
            i += 1
        out.append("EXECUTE STATEMENT SET BEGIN\n" + ";\n".join(inserts) + ";\nEND")
        i += 1
    return out


def java_double(x):
    """A float as Java's Double.toString lays it out (Python's repr has the same shortest digits)."""
    if x != x:
        return "NaN"
    if x in (float("inf"), float("-inf")):
        return "Infinity" if x > 0 else "-Infinity"
    if x == 0:
        return "-0.0" if str(x).startswith("-") else "0.0"
    sign, digits, exp = decimal.Decimal(repr(x)).as_tuple()
    digits = "".join(map(str, digits)).rstrip("0") or "0"
    e = len("".join(map(str, decimal.Decimal(repr(x)).as_tuple()[1]))) + exp - 1
    minus = "-" if sign else ""
    if -3 <= e < 7:
        if e >= 0:
            whole, frac = digits[: e + 1].ljust(e + 1, "0"), digits[e + 1 :]
        else:
            whole, frac = "0", "0" * (-e - 1) + digits
        return minus + whole + "." + (frac or "0")
    return minus + digits[0] + "." + (digits[1:] or "0") + "E" + str(e)


def fmt(value, data_type):
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, decimal.Decimal):
        return format(value, "f")
    if isinstance(value, datetime.datetime):
        p = getattr(data_type, "precision", 6)
        text = value.strftime("%Y-%m-%d %H:%M:%S")
        if p > 0:
            text += "." + ("%06d" % value.microsecond)[:p].ljust(p, "0")
        return text
    if isinstance(value, datetime.time):
        return value.strftime("%H:%M:%S")
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    if isinstance(value, float):
        return java_double(value)
    text = str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


KINDS = {0: "+I", 1: "-U", 2: "+U", 3: "-D"}


def execute(t_env, stmts):
    """Runs statements in order, each INSERT to its end; a SET is a configuration change (PyFlink's
    execute_sql takes no SET)."""
    for stmt in stmts:
        option = re.fullmatch(r"(?is)SET\s+'([^']*)'\s*=\s*'([^']*)'", stmt)
        if option:
            t_env.get_config().set(option.group(1), option.group(2))
            continue
        result = t_env.execute_sql(stmt)
        if result.get_job_client() is not None:
            result.wait()


def run(text, parallelism=1):
    """The changelog lines of the script's last statement, a query, run on Flink."""
    from pyflink.table import EnvironmentSettings, TableEnvironment

    stmts = statements(text)
    batch = any(re.search(r"(?is)'execution.runtime-mode'\s*=\s*'batch'", s) for s in stmts)
    settings = EnvironmentSettings.in_batch_mode() if batch else EnvironmentSettings.in_streaming_mode()
    t_env = TableEnvironment.create(settings)
    t_env.get_config().set("parallelism.default", str(parallelism))
    execute(t_env, stmts[:-1])
    result = t_env.execute_sql(stmts[-1])
    types = result.get_table_schema().get_field_data_types()
    lines = []
    with result.collect() as rows:
        for row in rows:
            kind = KINDS[row.get_row_kind().value]
            lines.append("\t".join([kind] + [fmt(v, t) for v, t in zip(row, types)]))
    return lines


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--parallelism", type=int, default=1)
    ap.add_argument("script")
    args = ap.parse_args()
    text = open(args.script, encoding="utf-8").read()
    for line in run(text, args.parallelism):
        sys.stdout.write(line + "\n")


if __name__ == "__main__":
    main()
