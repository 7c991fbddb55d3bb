#!/usr/bin/env python3
"""Asks Apache Flink's planner (PyFlink 2.3; planning only, nothing runs) for the result types of
arithmetic and of COALESCE (the least restrictive type of CASE, COALESCE and UNION) over pairs of
numeric types, and writes worker/sql/tests/golden/arithmetic_types.tsv: the operator, the two
operand types and the result type as Flink prints it (`!error` where Flink refuses the
expression).

Usage: python3 worker/sql/tests/flink/gen_types.py   (needs pip install apache-flink==2.3.0)
"""

from golden import write_golden

TYPES = ["TINYINT", "SMALLINT", "INT", "BIGINT", "DECIMAL(5, 2)", "DECIMAL(10, 0)", "DECIMAL(20, 3)",
         "DECIMAL(38, 10)", "DECIMAL(38, 0)", "DECIMAL(1, 1)", "FLOAT", "DOUBLE"]
OPS = ["+", "-", "*", "/", "%", "COALESCE"]


def main():
    from pyflink.table import EnvironmentSettings, TableEnvironment

    t_env = TableEnvironment.create(EnvironmentSettings.in_batch_mode())
    lines = []
    for op in OPS:
        for a in TYPES:
            for b in TYPES:
                expr = "COALESCE(a, b)" if op == "COALESCE" else ("MOD(a, b)" if op == "%" else "a %s b" % op)
                query = "SELECT %s FROM (SELECT CAST(NULL AS %s) AS a, CAST(NULL AS %s) AS b)" % (expr, a, b)
                try:
                    schema = t_env.sql_query(query)._j_table.getResolvedSchema()
                    result = schema.getColumnDataTypes().get(0).toString()
                except Exception:
                    result = "!error"
                lines.append("\t".join([op, a, b, result]))
    write_golden("arithmetic_types.tsv", "operator, left type, right type, Flink 2.3's result type (operands nullable); made by tests/flink/gen_types.py", lines)

if __name__ == "__main__":
    main()
