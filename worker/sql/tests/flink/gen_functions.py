#!/usr/bin/env python3
"""Asks Apache Flink (PyFlink 2.3, local mini-cluster) what its scalar functions return on edge
cases, and writes worker/sql/tests/golden/<group>_functions.tsv for each group (string,
datetime, json, numeric, cast, timezone): one line per call, a case name, the arguments and Flink's result cast to STRING,
tab-separated, NULL as \\N, !error where Flink fails the query.

Usage: python3 worker/sql/tests/flink/gen_functions.py [group ...]   (needs pip install apache-flink==2.3.0)
"""

import re
import sys

from golden import write_golden

N = None
# case name -> (SQL types of the arguments, the SQL call with $1.. for them, argument tuples)
STRING = {
    "CONCAT": (["STRING", "STRING", "STRING"], "CONCAT($1, $2, $3)", [
        ("a", "b", "c"), ("", "", ""), ("ab", N, "c"), ("héllo", " ", "wörld"),
    ]),
    "CONCAT_WS": (["STRING", "STRING", "STRING", "STRING"], "CONCAT_WS($1, $2, $3, $4)", [
        ("-", "a", "b", "c"), ("-", "a", N, "c"), (N, "a", "b", "c"), ("", "a", "b", "c"), ("::", "", "", ""),
    ]),
    "SUBSTRING": (["STRING", "INT", "INT"], "SUBSTRING($1 FROM $2 FOR $3)", [
        ("hello", 1, 2), ("hello", 2, 3), ("hello", 0, 2), ("hello", -1, 2), ("hello", -3, 2), ("hello", -7, 3),
        ("hello", 4, 10), ("hello", 6, 1), ("hello", 9, 1), ("hello", 2, 0), ("hello", 2, N), ("héllo", 2, 2),
        (N, 1, 1), ("hello", N, 1), ("hello", 2, -1),
    ]),
    "SUBSTR2": (["STRING", "INT"], "SUBSTRING($1, $2)", [
        ("hello", 1), ("hello", 3), ("hello", 0), ("hello", -2), ("hello", -9), ("hello", 6), ("hello", 7),
    ]),
    "UPPER": (["STRING"], "UPPER($1)", [("abc Déf", ), ("", ), (N, ), ("straße", )]),
    "LOWER": (["STRING"], "LOWER($1)", [("ABC Déf", ), ("", ), (N, ), ("İ", )]),
    "TRIM": (["STRING"], "TRIM($1)", [("  a b  ", ), ("\ta\t", ), ("", ), (N, ), ("   ", )]),
    "TRIM_LEADING": (["STRING", "STRING"], "TRIM(LEADING $2 FROM $1)", [
        ("xxaxx", "x"), ("xyaxy", "xy"), ("aaa", "a"), ("abc", ""), ("abc", N),
    ]),
    "TRIM_TRAILING": (["STRING", "STRING"], "TRIM(TRAILING $2 FROM $1)", [("xxaxx", "x"), ("xyayx", "xy")]),
    "TRIM_BOTH": (["STRING", "STRING"], "TRIM(BOTH $2 FROM $1)", [("xxaxx", "x"), ("yxaxy", "xy")]),
    "REPLACE": (["STRING", "STRING", "STRING"], "REPLACE($1, $2, $3)", [
        ("hello world", "o", "0"), ("aaa", "aa", "b"), ("abc", "", "x"), ("abc", "b", ""), ("abc", N, "x"),
        (N, "a", "b"), ("abc", "b", N),
    ]),
    "CHAR_LENGTH": (["STRING"], "CHAR_LENGTH($1)", [("hello", ), ("", ), ("héllo", ), ("日本語", ), (N, )]),
    "LPAD": (["STRING", "INT", "STRING"], "LPAD($1, $2, $3)", [
        ("hi", 5, "ab"), ("hello", 3, "x"), ("hi", 0, "x"), ("hi", -1, "x"), ("hi", 4, ""), ("", 3, "ab"),
        (N, 3, "x"), ("hi", N, "x"), ("hi", 5, N), ("hi", 2, "x"), ("hi", 2, ""), ("hi", 1, ""),
    ]),
    "RPAD": (["STRING", "INT", "STRING"], "RPAD($1, $2, $3)", [
        ("hi", 5, "ab"), ("hello", 3, "x"), ("hi", 0, "x"), ("hi", -1, "x"), ("hi", 4, ""), ("", 3, "ab"),
    ]),
    "SPLIT_INDEX": (["STRING", "STRING", "INT"], "SPLIT_INDEX($1, $2, $3)", [
        ("a,b,c", ",", 0), ("a,b,c", ",", 2), ("a,b,c", ",", 3), ("a,b,c", ",", -1), ("a,,c", ",", 1),
        ("a::b::c", "::", 1), ("abc", ",", 0), (",a", ",", 0), ("a,", ",", 1), ("", ",", 0),
        (N, ",", 0), ("a,b", N, 0), ("a,b", ",", N), ("a.b", ".", 1), ("a b", "", 1), ("a,b,c", ",b,", 1),
    ]),
    "REGEXP_EXTRACT": (["STRING", "STRING", "INT"], "REGEXP_EXTRACT($1, $2, $3)", [
        ("foo123bar", "([a-z]+)([0-9]+)", 2), ("foo123bar", "([a-z]+)([0-9]+)", 0), ("foo123bar", "([a-z]+)([0-9]+)", 1),
        ("foo123bar", "([0-9]+)", 3), ("foobar", "([0-9]+)", 1), ("GET /index.html HTTP/1.1", "^(\\S+) (\\S+)", 2),
        ("abc", "(", 1), (N, "a", 0), ("a", N, 0), ("abc", "b", N), ("x1y22", "[0-9]+", 0),
    ]),
    "REGEXP_EXTRACT2": (["STRING", "STRING"], "REGEXP_EXTRACT($1, $2)", [
        ("foo123bar", "([0-9]+)"), ("foo123bar", "[0-9]+"), ("foo", "x"), ("foo123bar", "([a-z]+)([0-9]+)"),
    ]),
    "REGEXP_REPLACE": (["STRING", "STRING", "STRING"], "REGEXP_REPLACE($1, $2, $3)", [
        ("foobar", "o+", "0"), ("a1b22c", "[0-9]", ""), ("abc", "x", "y"), ("2024-01-02", "(\\d+)-(\\d+)-(\\d+)", "$3/$2/$1"),
        ("abc", "(", "x"), ("abc", "(b)", "[$1]"), ("a.b", ".", "\\"), (N, "a", "b"), ("abc", N, "b"), ("abc", "b", N), ("aaa", "a*", "-"),
    ]),
    "REGEXP": (["STRING", "STRING"], "REGEXP($1, $2)", [
        ("abc", "b"), ("abc", "^b"), ("abc", "^a.c$"), ("abc", ""), ("abc", "("), (N, "a"), ("abc", N),
    ]),
}


def literal(value, sql_type):
    if value is None:
        return "CAST(NULL AS %s)" % sql_type
    if isinstance(value, str) and sql_type != "STRING":
        return "CAST('%s' AS %s)" % (value, sql_type)
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return "CAST(%s AS %s)" % (value, sql_type)


def escape(v):
    if v is None:
        return "\\N"
    return str(v).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


ERROR = object()


def collect(t_env, query):
    rows = {}
    with t_env.execute_sql(query).collect() as result:
        for row in result:
            rows[row[0]] = row[1]
    return rows


TS = "TIMESTAMP(3)"
T1 = "2024-03-05 07:08:09.123"
T2 = "2024-12-31 23:59:59.999"
T3 = "1969-07-20 20:17:40.000"
T4 = "2024-02-29 00:00:00.000"
FORMATS = ["yyyy-MM-dd HH:mm:ss", "yyyy-MM-dd", "HH", "yyyyMMdd", "dd/MMM/yyyy:HH:mm:ss", "EEE, d MMM yyyy",
           "EEEE MMMM", "hh:mm a", "yyyy-MM-dd'T'HH:mm:ss.SSS", "D", "yy", "M/d/y", "S", "SS", "SSSSSS", "k K",
           "'o''clock' H", "w"]
UNITS = ["YEAR", "QUARTER", "MONTH", "WEEK", "DAY", "HOUR", "MINUTE", "SECOND", "DOW", "DOY"]
DATETIME = {
    "DATE_FORMAT": ([TS, "STRING"], "DATE_FORMAT($1, $2)",
                    [(t, f) for t in (T1, T2, T3) for f in FORMATS] + [(N, "yyyy"), (T1, N)]),
    "TO_TIMESTAMP": (["STRING", "STRING"], "TO_TIMESTAMP($1, $2)", [
        ("2024-03-05 07:08:09", "yyyy-MM-dd HH:mm:ss"), ("2024-03-05", "yyyy-MM-dd"),
        ("05/Mar/2024:07:08:09", "dd/MMM/yyyy:HH:mm:ss"), ("20240305", "yyyyMMdd"),
        ("2024-03-05 07:08:09.123", "yyyy-MM-dd HH:mm:ss.SSS"), ("garbage", "yyyy-MM-dd HH:mm:ss"),
        ("2024-13-05 00:00:00", "yyyy-MM-dd HH:mm:ss"), ("2024-02-30 00:00:00", "yyyy-MM-dd HH:mm:ss"),
        ("2024-3-5 7:8:9", "yyyy-M-d H:m:s"), ("2024-03-05 07:08", "yyyy-MM-dd HH:mm"),
        ("2024-03-05T07:08:09", "yyyy-MM-dd'T'HH:mm:ss"), ("2024-03-05 07:08:09 extra", "yyyy-MM-dd HH:mm:ss"),
        ("2024-03-05 07:08:09.5", "yyyy-MM-dd HH:mm:ss.S"), (N, "yyyy"), ("2024", N),
    ]),
    "TO_TIMESTAMP1": (["STRING"], "TO_TIMESTAMP($1)", [
        ("2024-03-05 07:08:09", ), ("2024-03-05 07:08:09.123", ), ("2024-03-05", ), ("x", ),
        ("2024-03-05T07:08:09", ), (" 2024-03-05 ", ), ("2024-02-30", ), ("2024-03-05 07:08:09.1239", ),
    ]),
    "EXTRACT": ([TS], None, [(u, t) for u in UNITS for t in (T1, T2, T3, T4)]),
    "FLOOR": ([TS], None, [(u, t) for u in ["YEAR", "QUARTER", "MONTH", "WEEK", "DAY", "HOUR", "MINUTE", "SECOND"]
                           for t in (T1, T3)]),
    "CEIL": ([TS], None, [(u, t) for u in ["YEAR", "MONTH", "DAY", "HOUR", "MINUTE", "SECOND"]
                          for t in (T1, T3, T4)]),
    "TIMESTAMPDIFF": ([TS, TS], None, [
        (u, a, b) for u in ["YEAR", "MONTH", "WEEK", "DAY", "HOUR", "MINUTE", "SECOND"]
        for (a, b) in [(T1, T2), (T2, T1), (T3, T1), (T4, "2025-02-28 23:59:59.999"), (T1, T1)]
    ]),
}
DOC = '{"a": 1, "b": {"c": "x", "d": [1, 2, {"e": true}]}, "n": null, "f": 1.50, "s": "it\'s", "arr": ["p", "q"], "big": 12345678901234567890}'
PATHS = ["$.a", "$.b.c", "$.b.d[0]", "$.b.d[2].e", "$.b.d", "$.b", "$.missing", "$.n", "$.f", "$.s", "$.arr[1]",
         "$.arr[5]", "$", "$.b.d[*]", "$.arr[*]", "strict $.missing", "lax $.missing", "strict $.a", "$['b']['c']",
         "$.big", "$.b.d[2]", "$.arr.x", "bad path"]
JSON = {
    "JSON_VALUE": (["STRING", "STRING"], "JSON_VALUE($1, $2)", [(DOC, p) for p in PATHS] + [
        ("not json", "$.a"), ("[1, 2]", "$[1]"), ('"str"', "$"), ("", "$"), (N, "$.a"), ("{}", N),
        ('{"a": {"b": 1}}', "$.a.b"), ('{"a": [{"b": 1}, {"b": 2}]}', "$.a.b"), ('{"a": 1e3}', "$.a"),
        ('{"a": -0.0}', "$.a"), ('{"a": false}', "$.a"),
    ]),
    "JSON_VALUE_DEFAULT": (["STRING", "STRING"], "JSON_VALUE($1, $2 DEFAULT 'dflt' ON EMPTY DEFAULT 'oops' ON ERROR)",
                           [(DOC, "$.missing"), (DOC, "$.b"), (DOC, "strict $.missing"), ("not json", "$.a"), (DOC, "$.a"),
                            (DOC, "lax $.missing"), (DOC, "lax $.arr.x"), ('{"a": null}', "$.a")]),
    "JSON_VALUE_INT": (["STRING", "STRING"], "JSON_VALUE($1, $2 RETURNING INT)",
                       [(DOC, "$.a"), (DOC, "$.f"), (DOC, "$.s"), ('{"a": "42"}', "$.a"), ('{"a": true}', "$.a")]),
    "JSON_QUERY": (["STRING", "STRING"], "JSON_QUERY($1, $2)", [(DOC, p) for p in PATHS] + [
        ("not json", "$"), (N, "$"), ('{"a": [{"b": 1}, {"b": 2}]}', "$.a[*].b"), ('{"a":{"y":1,"x":2}}', "$.a"),
        ('{"a": [{"b": 1}, {"b": 2}]}', "lax $.a.b"), ('{"a": {"x": 1e3, "y": -0.0}}', "$.a"), (DOC, "lax $.missing"),
        (DOC, "$.*"),
    ]),
    "JSON_QUERY_WRAPPED": (["STRING", "STRING"], "JSON_QUERY($1, $2 WITH CONDITIONAL ARRAY WRAPPER)",
                           [(DOC, "$.a"), (DOC, "$.b.d"), (DOC, "$.b.c"), (DOC, "$.missing")]),
    "JSON_QUERY_UNCONDITIONAL": (["STRING", "STRING"], "JSON_QUERY($1, $2 WITH UNCONDITIONAL ARRAY WRAPPER)",
                                 [(DOC, "$.a"), (DOC, "$.b.d"), (DOC, "$.missing")]),
    "JSON_QUERY_EMPTY": (["STRING", "STRING"], "JSON_QUERY($1, $2 EMPTY ARRAY ON EMPTY EMPTY OBJECT ON ERROR)",
                         [(DOC, "$.missing"), (DOC, "$.a"), ("not json", "$")]),
}

NUMERIC = {
    # As strings, so Flink reads them as Java's Double.parseDouble does.
    "DOUBLE_STR": (["DOUBLE"], "$1", [(x, ) for x in (
        "0.1", "1.0", "100.0", "1e7", "9999999.0", "12345678.9", "0.001", "0.0001", "1e-10", "1.5e300",
        "123.456", "0.6666666666666666", "1e21", "1e23", "4.35", "-1234.5", "4.9e-324", "1.7976931348623157e308",
        "2e-3", "1.0E22", "8.41E21", "5.0E-324")]),
    "MOD_INT": (["INT", "INT"], "MOD($1, $2)", [(7, 3), (-7, 3), (7, -3), (-7, -3), (0, 5), (5, 0)]),
    "MOD_BIGINT": (["BIGINT", "INT"], "MOD($1, $2)", [(-9223372036854775808, -1), (10, 4)]),
    "ABS_INT": (["INT"], "ABS($1)", [(-5, ), (5, ), (-2147483648, ), (N, )]),
    "ABS_DOUBLE": (["DOUBLE"], "ABS($1)", [(-1.5, ), (-0.0, ), (2.0, )]),
    "ROUND_DOUBLE": (["DOUBLE", "INT"], "ROUND($1, $2)", [
        (2.5, 0), (-2.5, 0), (1.005, 2), (123.456, -1), (0.125, 2), (1e300, 2), (0.1 + 0.2, 1), (1234.5678, 3)]),
    "ROUND_DECIMAL": (["DECIMAL(10, 4)", "INT"], "ROUND($1, $2)", [
        ("2.5000", 0), ("-2.5000", 0), ("1.0050", 2), ("123.4560", -1), ("9999.9999", 2), ("0.0049", 2)]),
    "ROUND_INT": (["INT", "INT"], "ROUND($1, $2)", [(1234, -2), (1250, -2), (-1250, -2), (5, 0), (5, 2)]),
    "POWER": (["DOUBLE", "DOUBLE"], "POWER($1, $2)", [
        (2.0, 10.0), (2.0, 0.5), (-8.0, 1.0 / 3), (0.0, -1.0), (10.0, -2.0), (-2.0, 3.0)]),
    "HASH_CODE": (["STRING"], "HASH_CODE($1)", [
        ("", ), ("a", ), ("hello", ), ("héllo", ), ("日本語", ), ("a much longer string to overflow the hash", ),
        ("😀", ), (N, )]),
}

STRINGS = ["true", "FALSE", " true ", "1", "0", "yes", "t", "", "42", " 42 ", "-7", "+5", "4.5", "1e3", "2147483648",
           "9223372036854775807", "abc", "0x1F", "1.5e-3", "-0", "NaN", "Infinity", "2024-03-05", "2024-3-5",
           "2024-03-05 07:08:09", "2024-03-05 07:08:09.123456789", "2024-03-05T07:08:09", " 2024-03-05 ", "20240305",
           "2024-02-30", "07:08:09", "7:08", "y", "n", "no", "f", "on", "4.", ".5", "1.5d", "inf", "2024-03",
           "2024-03-05 07:08:09.1239", " 07:08 ", "\t42"]
TARGETS = ["BOOLEAN", "TINYINT", "INT", "BIGINT", "DOUBLE", "DATE", "TIMESTAMP(3)", "TIMESTAMP(9)", "TIME(0)"]
CAST = {
    "TRY_CAST_" + t: (["STRING"], "TRY_CAST($1 AS %s)" % t, [(v, ) for v in STRINGS]) for t in TARGETS
}
CAST.update({
    "CAST_TO_STRING_" + re.sub(r"\W", "", t): ([t], "$1", [(v, ) for v in values]) for t, values in [
        ("BOOLEAN", ["true", "false"]), ("DATE", ["2024-03-05", "0001-01-01"]), ("TIME(0)", ["07:08:09"]),
        ("TIMESTAMP(3)", ["2024-03-05 07:08:09", "2024-03-05 07:08:09.1", "2024-03-05 07:08:09.123"]),
        ("TIMESTAMP(9)", ["2024-03-05 07:08:09.123456789"]), ("DECIMAL(10, 2)", ["1", "-0.5"]),
    ]
})

ZONES = ["UTC", "Asia/Shanghai", "America/Los_Angeles", "GMT-08:00"]
# LA: 2024-03-10 02:30 does not exist (DST starts), 2024-11-03 01:30 happens twice.
LOCAL = ["2024-03-05 07:08:09", "1970-01-01 00:00:00", "bad", "2024-03-10 02:30:00", "2024-11-03 01:30:00",
         "1969-12-31 23:59:59"]
EPOCH_SECONDS = [0, 1709622489, -1, 1710064800, 1730622600]
TIMEZONE = {}
for zone in ZONES:
    TIMEZONE.update({
        "FROM_UNIXTIME@" + zone: (["BIGINT"], "FROM_UNIXTIME($1)", [(v, ) for v in EPOCH_SECONDS]),
        "FROM_UNIXTIME_FMT@" + zone: (["BIGINT", "STRING"], "FROM_UNIXTIME($1, $2)",
                                      [(1709622489, "yyyyMMdd HH:mm"), (0, "dd/MMM/yyyy")]),
        "UNIX_TIMESTAMP@" + zone: (["STRING"], "UNIX_TIMESTAMP($1)", [(v, ) for v in LOCAL]),
        "UNIX_TIMESTAMP_FMT@" + zone: (["STRING", "STRING"], "UNIX_TIMESTAMP($1, $2)",
                                       [("2024/03/05 07", "yyyy/MM/dd HH"), ("x", "yyyy")]),
        "TO_TIMESTAMP_LTZ3@" + zone: (["BIGINT"], "TO_TIMESTAMP_LTZ($1, 3)", [(v, ) for v in (0, 1709622489123, -1)]),
        "TO_TIMESTAMP_LTZ0@" + zone: (["BIGINT"], "TO_TIMESTAMP_LTZ($1, 0)", [(v, ) for v in EPOCH_SECONDS]),
    })
# CONVERT_TZ does not read the session zone.
TIMEZONE["CONVERT_TZ@UTC"] = (["STRING", "STRING", "STRING"], "CONVERT_TZ($1, $2, $3)", [
    (t, a, b) for t in LOCAL for (a, b) in [("UTC", "Asia/Shanghai"), ("America/Los_Angeles", "UTC"),
                                            ("GMT+05:30", "GMT-08:00")]
] + [("2024-03-05 07:08:09", "Mars/Olympus", "UTC")])


def call_text(name, types, call, args):
    """The SQL call: `call` with $k for argument k, or a unit-taking form (EXTRACT, FLOOR, ...)."""
    if call is not None:
        return re.sub(r"\$(\d)", lambda m: literal(args[int(m.group(1)) - 1], types[int(m.group(1)) - 1]), call)
    unit, values = args[0], [literal(v, t) for v, t in zip(args[1:], types)]
    if name == "EXTRACT":
        return "EXTRACT(%s FROM %s)" % (unit, values[0])
    if name in ("FLOOR", "CEIL"):
        return "%s(%s TO %s)" % (name, values[0], unit)
    return "TIMESTAMPDIFF(%s, %s, %s)" % (unit, values[0], values[1])


def main():
    from pyflink.table import EnvironmentSettings, TableEnvironment

    t_env = TableEnvironment.create(EnvironmentSettings.in_batch_mode())
    t_env.get_config().set("parallelism.default", "1")
    # A call on literals has a NOT NULL type even where the function returns NULL (RPAD with a
    # negative length): Flink's sink then drops the row, so a missing row is a NULL result.
    t_env.get_config().set("table.exec.sink.not-null-enforcer", "DROP")
    groups = (("string", STRING), ("datetime", DATETIME), ("json", JSON), ("numeric", NUMERIC), ("cast", CAST),
              ("timezone", TIMEZONE))
    wanted = sys.argv[1:] or [g for g, _ in groups]
    for group, cases in (g for g in groups if g[0] in wanted):
        lines = []
        for name, (types, call, calls) in cases.items():
            # A case named `NAME@zone` runs in that session time zone.
            t_env.get_config().set("table.local-time-zone", name.split("@")[1] if "@" in name else "UTC")
            selects = ["SELECT %d AS id, CAST(%s AS STRING) AS r" % (i, call_text(name, types, call, args))
                       for i, args in enumerate(calls)]
            rows = {}
            try:
                rows = collect(t_env, " UNION ALL ".join(selects))
            except Exception:
                # One call fails the query (an invalid pattern, say): ask call by call.
                for i, select in enumerate(selects):
                    try:
                        rows.update(collect(t_env, select))
                    except Exception:
                        rows[i] = ERROR
            for i, args in enumerate(calls):
                result = "!error" if rows.get(i) is ERROR else escape(rows.get(i))
                lines.append("\t".join([name] + [escape(a) for a in args] + [result]))
        write_golden("%s_functions.tsv" % group, "case, arguments, Flink 2.3's result cast to STRING (\\N: NULL); made by tests/flink/gen_functions.py", lines)

if __name__ == "__main__":
    main()
