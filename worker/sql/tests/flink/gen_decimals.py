#!/usr/bin/env python3
"""Asks Apache Flink (PyFlink 2.3) what its DECIMAL arithmetic returns and writes
worker/sql/tests/golden/decimal_values.tsv: operator, left type and value, right type and value,
Flink's result type and its result cast to STRING (\\N: NULL, !error where the query fails; an
empty result is a NULL too: Flink casts a NULL that its NOT NULL type did not expect, the result of
an overflow, to '').

Usage: python3 worker/sql/tests/flink/gen_decimals.py   (needs pip install apache-flink==2.3.0)
"""

from golden import write_golden

CASES = [
    ("*", "DECIMAL(4, 3)", "0.908", "BIGINT", "105"),
    ("*", "DECIMAL(4, 3)", "0.908", "BIGINT", "9223372036854775807"),
    ("*", "DECIMAL(38, 10)", "1234567890123456789012345678.0123456789", "DECIMAL(38, 10)", "2.5"),
    ("*", "DECIMAL(38, 10)", "9999999999999999999999999999.9999999999", "DECIMAL(38, 10)", "9999999999999999999999999999.9999999999"),
    ("*", "DECIMAL(10, 5)", "1.23455", "DECIMAL(10, 5)", "-1.00001"),
    ("*", "DECIMAL(20, 10)", "0.0000000001", "DECIMAL(20, 10)", "0.5"),
    ("+", "DECIMAL(5, 2)", "999.99", "DECIMAL(5, 2)", "0.01"),
    ("+", "DECIMAL(38, 0)", "99999999999999999999999999999999999999", "DECIMAL(38, 0)", "1"),
    ("+", "DECIMAL(38, 10)", "1.00000000005", "DECIMAL(38, 2)", "1.005"),
    ("+", "DECIMAL(38, 10)", "-1.2345678901", "INT", "7"),
    ("-", "DECIMAL(5, 2)", "-999.99", "DECIMAL(5, 2)", "0.01"),
    ("-", "DECIMAL(38, 10)", "0.0000000001", "DECIMAL(1, 0)", "1"),
    ("/", "DECIMAL(5, 2)", "1.00", "DECIMAL(5, 2)", "3.00"),
    ("/", "DECIMAL(5, 2)", "2.00", "DECIMAL(5, 2)", "3.00"),
    ("/", "DECIMAL(5, 2)", "-2.00", "DECIMAL(5, 2)", "3.00"),
    ("/", "DECIMAL(5, 2)", "1.00", "DECIMAL(5, 2)", "0.00"),
    ("/", "DECIMAL(38, 10)", "1", "DECIMAL(38, 10)", "3"),
    ("/", "DECIMAL(38, 0)", "99999999999999999999999999999999999999", "DECIMAL(38, 37)", "0.0000000000000000000000000000000000001"),
    ("/", "INT", "7", "DECIMAL(5, 2)", "2.50"),
    ("/", "BIGINT", "1", "DECIMAL(1, 0)", "3"),
    ("%", "DECIMAL(5, 2)", "7.50", "DECIMAL(5, 2)", "2.00"),
    ("%", "DECIMAL(5, 2)", "-7.50", "DECIMAL(5, 2)", "2.00"),
    ("%", "DECIMAL(5, 2)", "7.50", "DECIMAL(5, 2)", "0.00"),
    ("%", "DECIMAL(10, 3)", "123.456", "INT", "10"),
    ("CAST", "STRING", "1.005", "DECIMAL(5, 2)", ""),
    ("CAST", "STRING", "-1.005", "DECIMAL(5, 2)", ""),
    ("CAST", "STRING", "1.004", "DECIMAL(5, 2)", ""),
    ("CAST", "STRING", "12345.6", "DECIMAL(5, 2)", ""),
    ("CAST", "STRING", "1e2", "DECIMAL(5, 2)", ""),
    ("CAST", "STRING", " 3.5 ", "DECIMAL(5, 2)", ""),
    ("CAST", "STRING", "abc", "DECIMAL(5, 2)", ""),
    ("CAST", "DOUBLE", "0.125", "DECIMAL(5, 2)", ""),
    ("CAST", "DOUBLE", "1e300", "DECIMAL(5, 2)", ""),
    ("CAST", "DECIMAL(10, 4)", "-2.5000", "INT", ""),
    ("CAST", "DECIMAL(10, 4)", "2.9999", "BIGINT", ""),
    ("CAST", "DECIMAL(10, 4)", "2.5", "DOUBLE", ""),
    ("CAST", "DECIMAL(10, 4)", "99999.5", "DECIMAL(5, 0)", ""),
    ("CAST", "DECIMAL(10, 4)", "0.0000", "STRING", ""),
    ("CAST", "DECIMAL(38, 18)", "0.000000000000000001", "STRING", ""),
]


def lit(t, v):
    return "CAST('%s' AS %s)" % (v, t) if t != "STRING" else "'%s'" % v


def main():
    from pyflink.table import EnvironmentSettings, TableEnvironment

    t_env = TableEnvironment.create(EnvironmentSettings.in_batch_mode())
    t_env.get_config().set("table.exec.sink.not-null-enforcer", "DROP")
    lines = []
    for op, ta, va, tb, vb in CASES:
        if op == "CAST":
            expr = "CAST(%s AS %s)" % (lit(ta, va), tb)
        elif op == "%":
            expr = "MOD(%s, %s)" % (lit(ta, va), lit(tb, vb))
        else:
            expr = "%s %s %s" % (lit(ta, va), op, lit(tb, vb))
        query = "SELECT 0, CAST(%s AS STRING)" % expr
        try:
            table = t_env.sql_query("SELECT %s" % expr)
            result_type = table._j_table.getResolvedSchema().getColumnDataTypes().get(0).toString()
            rows = list(t_env.execute_sql(query).collect())
            result = "\\N" if not rows or rows[0][1] is None else rows[0][1]
        except Exception:
            result_type, result = "!error", "!error"
        lines.append("\t".join([op, ta, va, tb, vb, result_type.replace(" NOT NULL", ""), result]))
    write_golden("decimal_values.tsv", "operator, left type, left value, right type, right value, result type, Flink 2.3's result; made by tests/flink/gen_decimals.py", lines)

if __name__ == "__main__":
    main()
