//! The parser on Flink scripts as users write them, its errors, and random and mutated input.

use ferroflink_sql::ast::{ColumnKind, DataType, DropKind, Statement, Type};
use ferroflink_sql::{parse_script, parse_statement, parse_type};
use proptest::prelude::*;

const NEXMARK_DDL: &str = r#"
-- The Nexmark bid table, as the nexmark repository declares it.
CREATE TABLE bid (
    auction  BIGINT,
    bidder  BIGINT,
    price  BIGINT,
    channel  VARCHAR,
    url  VARCHAR,
    `dateTime`  TIMESTAMP(3),
    extra  VARCHAR,
    proc AS PROCTIME(),
    ts TIMESTAMP_LTZ(3) METADATA FROM 'timestamp' VIRTUAL,
    part INT METADATA,
    WATERMARK FOR `dateTime` AS `dateTime` - INTERVAL '4' SECOND,
    PRIMARY KEY (auction, bidder) NOT ENFORCED
) COMMENT 'bids'
PARTITIONED BY (channel)
WITH (
    'connector' = 'datagen',
    'rows-per-second' = '10000000',
    'fields.price.min' = '1'
);
SET 'execution.runtime-mode' = 'streaming';
SET table.exec.state.ttl = '1 h';
SET;
RESET 'table.exec.state.ttl';
RESET;
CREATE TEMPORARY VIEW v (a, p) AS SELECT auction, 0.908 * price FROM bid WHERE MOD(auction, 123) = 0;
INSERT INTO sink SELECT * FROM v;
"#;

#[test]
fn a_nexmark_script_parses() {
    let statements = parse_script(NEXMARK_DDL).unwrap();
    assert_eq!(statements.len(), 8);
    assert_eq!((statements[0].line, statements[0].column), (3, 1));
    let Statement::CreateTable(t) = &statements[0].statement else { panic!("{:?}", statements[0]) };
    assert_eq!(t.name.to_string(), "bid");
    let names: Vec<&str> = t.columns.iter().map(|c| c.name.value.as_str()).collect();
    assert_eq!(names, ["auction", "bidder", "price", "channel", "url", "dateTime", "extra", "proc", "ts", "part"]);
    assert_eq!(t.columns[3].kind, ColumnKind::Physical(Type { data: DataType::VarChar(1), nullable: true }));
    assert_eq!(t.columns[5].kind, ColumnKind::Physical(Type { data: DataType::Timestamp(3), nullable: true }));
    assert!(matches!(&t.columns[7].kind, ColumnKind::Computed(e) if e.to_string() == "PROCTIME()"));
    assert_eq!(
        t.columns[8].kind,
        ColumnKind::Metadata {
            ty: Type { data: DataType::TimestampLtz(3), nullable: true },
            key: Some("timestamp".into()),
            virtual_: true
        }
    );
    assert!(matches!(&t.columns[9].kind, ColumnKind::Metadata { key: None, virtual_: false, .. }));
    let w = t.watermark.as_ref().unwrap();
    assert_eq!(w.column.value, "dateTime");
    assert_eq!(w.expr.to_string(), "`dateTime` - INTERVAL '4' SECOND");
    let pk: Vec<&str> = t.primary_key.as_ref().unwrap().iter().map(|c| c.value.as_str()).collect();
    assert_eq!(pk, ["auction", "bidder"]);
    assert_eq!(t.partitioned_by[0].value, "channel");
    assert_eq!(t.comment.as_deref(), Some("bids"));
    assert_eq!(t.options[1], ("rows-per-second".to_string(), "10000000".to_string()));

    assert_eq!(statements[1].statement, Statement::Set(Some(("execution.runtime-mode".into(), "streaming".into()))));
    assert_eq!(statements[2].statement, Statement::Set(Some(("table.exec.state.ttl".into(), "1 h".into()))));
    assert_eq!(statements[3].statement, Statement::Set(None));
    assert_eq!(statements[4].statement, Statement::Reset(Some("table.exec.state.ttl".into())));
    assert_eq!(statements[5].statement, Statement::Reset(None));
    let Statement::CreateView { name, temporary: true, columns, query, .. } = &statements[6].statement else {
        panic!("{:?}", statements[6])
    };
    assert_eq!(name.to_string(), "v");
    assert_eq!(columns.len(), 2);
    assert_eq!(query.to_string(), "SELECT auction, 0.908 * price FROM bid WHERE MOD(auction, 123) = 0");
}

#[test]
fn inserts_statement_sets_and_explain() {
    let s = parse_script(
        "INSERT INTO out (a, b) SELECT x, y FROM t;\n\
         INSERT OVERWRITE out (SELECT x, y FROM t);\n\
         EXECUTE STATEMENT SET BEGIN INSERT INTO a SELECT * FROM t; INSERT INTO b SELECT * FROM t; END;\n\
         BEGIN STATEMENT SET;\nINSERT INTO a SELECT * FROM t;\nINSERT INTO b SELECT * FROM t;\nEND;\n\
         EXPLAIN PLAN FOR SELECT 1;\n\
         EXPLAIN CHANGELOG_MODE, ESTIMATED_COST INSERT INTO a SELECT * FROM t;\n\
         SELECT window_start, COUNT(*) FILTER (WHERE price > 10) FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(ts), INTERVAL '10' SECOND)) GROUP BY window_start, window_end",
    )
    .unwrap();
    let Statement::Insert(i) = &s[0].statement else { panic!() };
    assert_eq!((i.table.to_string().as_str(), i.columns.len(), i.overwrite), ("out", 2, false));
    let Statement::Insert(i) = &s[1].statement else { panic!() };
    assert!(i.overwrite && i.columns.is_empty());
    for k in [2, 3] {
        let Statement::StatementSet(inserts) = &s[k].statement else { panic!("{:?}", s[k]) };
        let tables: Vec<String> = inserts.iter().map(|i| i.table.to_string()).collect();
        assert_eq!(tables, ["a", "b"]);
    }
    assert_eq!(s[3].line, 4);
    let Statement::Explain { details, statement } = &s[4].statement else { panic!() };
    assert!(details.is_empty() && matches!(**statement, Statement::Query(_)));
    let Statement::Explain { details, statement } = &s[5].statement else { panic!() };
    assert_eq!(details, &["CHANGELOG_MODE", "ESTIMATED_COST"]);
    assert!(matches!(**statement, Statement::Insert(_)));
    let Statement::Query(q) = &s[6].statement else { panic!() };
    let text = q.to_string();
    assert!(text.contains("FILTER (WHERE price > 10)"), "{text}");
    assert!(text.contains("DESCRIPTOR(ts)"), "{text}");
}

#[test]
fn functions_and_drops() {
    let s = parse_script(
        "CREATE TEMPORARY SYSTEM FUNCTION IF NOT EXISTS twice AS 'my_crate::Twice' LANGUAGE RUST;\n\
         CREATE FUNCTION f AS 'f';\nDROP TEMPORARY TABLE IF EXISTS t; DROP VIEW v; DROP FUNCTION f",
    )
    .unwrap();
    assert_eq!(
        s[0].statement,
        Statement::CreateFunction {
            name: sqlparser::ast::ObjectName::from(vec![sqlparser::ast::Ident::new("twice")]),
            temporary: true,
            system: true,
            if_not_exists: true,
            identifier: "my_crate::Twice".into(),
            language: Some("RUST".into()),
        }
    );
    assert!(matches!(&s[1].statement, Statement::CreateFunction { temporary: false, language: None, .. }));
    assert!(matches!(&s[2].statement, Statement::Drop { kind: DropKind::Table, if_exists: true, .. }));
    assert!(matches!(&s[3].statement, Statement::Drop { kind: DropKind::View, if_exists: false, .. }));
    assert!(matches!(&s[4].statement, Statement::Drop { kind: DropKind::Function, .. }));
}

#[test]
fn flink_types() {
    for (text, shown) in [
        ("INT", "INT"),
        ("INTEGER NOT NULL", "INT NOT NULL"),
        ("string", "STRING"),
        ("VARCHAR(10)", "VARCHAR(10)"),
        ("CHAR", "CHAR(1)"),
        ("BYTES", "BYTES"),
        ("DECIMAL", "DECIMAL(10, 0)"),
        ("NUMERIC(38, 18)", "DECIMAL(38, 18)"),
        ("DOUBLE PRECISION", "DOUBLE"),
        ("REAL", "FLOAT"),
        ("TIMESTAMP", "TIMESTAMP(6)"),
        ("TIMESTAMP(3) WITHOUT TIME ZONE", "TIMESTAMP(3)"),
        ("TIMESTAMP(3) WITH LOCAL TIME ZONE", "TIMESTAMP_LTZ(3)"),
        ("TIMESTAMP_LTZ(9)", "TIMESTAMP_LTZ(9)"),
        ("TIME", "TIME(0)"),
        ("INTERVAL DAY(2) TO SECOND(3)", "INTERVAL DAY TO SECOND"),
        ("INTERVAL YEAR TO MONTH", "INTERVAL YEAR TO MONTH"),
        ("ARRAY<INT NOT NULL>", "ARRAY<INT NOT NULL>"),
        ("INT ARRAY", "ARRAY<INT>"),
        ("MAP<STRING, ARRAY<BIGINT>>", "MAP<STRING, ARRAY<BIGINT>>"),
        ("ARRAY<ARRAY<INT>>", "ARRAY<ARRAY<INT>>"),
        ("ROW<a INT, `b c` MAP<STRING, ROW<x DOUBLE>>>", "ROW<`a` INT, `b c` MAP<STRING, ROW<`x` DOUBLE>>>"),
        ("ROW(a INT NOT NULL, b STRING)", "ROW<`a` INT NOT NULL, `b` STRING>"),
        ("MULTISET<STRING>", "MULTISET<STRING>"),
    ] {
        assert_eq!(parse_type(text).map(|t| t.to_string()), Ok(shown.to_string()), "{text}");
    }
    for (text, needle) in [
        ("DECIMAL(39, 2)", "precision must be 1 to 38"),
        ("DECIMAL(5, 6)", "scale 0 to the precision"),
        ("VARCHAR(0)", "between 1 and"),
        ("TIMESTAMP(10)", "between 0 and 9"),
        ("TIMESTAMP WITH TIME ZONE", "TIMESTAMP_LTZ"),
        ("INTEGRAL", "unknown data type INTEGRAL"),
        ("RAW('x')", "not supported"),
        ("ARRAY<INT", "expected '>'"),
        ("MAP<INT>", "Expected: ,"),
        ("ROW<a INT, a INT>", "appears twice"),
        ("INTERVAL YEAR TO SECOND", "not both"),
    ] {
        let e = parse_type(text).unwrap_err();
        assert!(e.message.contains(needle), "{text}: {e}");
    }
}

/// Each error names the line and column of what is wrong and says what was expected.
#[test]
fn errors_are_located_and_say_what_is_wrong() {
    let mut wrong = Vec::new();
    for (sql, line, column, needle) in [
        ("CREATE TABLE t (a INT) WITH ('connector' = datagen)", 1, 44, "the option's value as a string literal"),
        ("CREATE TABLE t (\n  a INT,\n  b FOO\n) WITH ()", 3, 5, "unknown data type FOO"),
        ("CREATE TABLE t (a INT, a BIGINT)", 1, 24, "column `a` is declared twice"),
        ("CREATE TABLE t (a INT, PRIMARY KEY (a))", 1, 39, "NOT ENFORCED"),
        ("CREATE TABLE t (a INT, WATERMARK FOR a AS a, WATERMARK FOR a AS a)", 1, 46, "one WATERMARK"),
        ("CREATE TABLE t (a INT) WITH ('k' = 'v', 'k' = 'w')", 1, 41, "given twice"),
        ("SELECT a FROM t;\nSELEKT b FROM t", 2, 1, "expected a statement"),
        ("SHOW TABLES", 1, 1, "SHOW statements are not supported"),
        ("CREATE CATALOG c WITH ()", 1, 8, "CREATE CATALOG is not supported"),
        ("SELECT a FROM t WHERE", 1, 22, "Expected: an expression"),
        ("SELECT 'abc", 1, 8, "Unterminated string literal"),
        ("INSERT INTO t SELECT 1 garbage garbage", 1, 32, "expected ';' after the statement"),
        ("BEGIN STATEMENT SET; INSERT INTO a SELECT 1;", 1, 45, "no END"),
        ("EXECUTE STATEMENT SET BEGIN SELECT 1; END", 1, 29, "INSERT statements only"),
        ("EXPLAIN CREATE TABLE t (a INT)", 1, 31, "EXPLAIN takes"),
        ("CREATE TABLE t (a INT) LIKE u", 1, 24, "LIKE is not supported"),
        ("SET 'a' = ", 1, 11, "expected the value of 'a'"),
    ] {
        match parse_script(sql) {
            Err(e) if e.message.contains(needle) && (e.line, e.column) == (line, column) => {}
            other => wrong.push(format!("{sql}: expected {needle:?} at {line}:{column}, got {other:?}")),
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn one_statement() {
    assert!(matches!(parse_statement("SELECT 1;").unwrap().statement, Statement::Query(_)));
    assert!(parse_statement("SELECT 1; SELECT 2").unwrap_err().message.contains("one statement"));
    assert!(parse_statement(" -- nothing\n").unwrap_err().message.contains("found none"));
}

/// Statements a fuzz case starts from: every form above.
const CORPUS: &[&str] = &[
    NEXMARK_DDL,
    "EXECUTE STATEMENT SET BEGIN INSERT INTO a SELECT * FROM t; INSERT INTO b (x) SELECT CAST(y AS STRING) FROM t; END;",
    "EXPLAIN CHANGELOG_MODE SELECT a, COUNT(DISTINCT b) FROM t GROUP BY a HAVING COUNT(*) > 1",
    "SELECT * FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY a ORDER BY b DESC) AS rn FROM t) WHERE rn <= 3",
    "CREATE TABLE t (r ROW<a INT, m MAP<STRING, ARRAY<INT>>>, d DECIMAL(10, 2) NOT NULL) WITH ('connector' = 'print')",
    "SELECT window_start, COUNT(*) FROM TABLE(HOP(TABLE bid, DESCRIPTOR(ts), INTERVAL '2' SECOND, INTERVAL '10' SECOND)) GROUP BY window_start, window_end",
    "CREATE TEMPORARY SYSTEM FUNCTION f AS 'f' LANGUAGE RUST; SET 'a.b' = '1'; RESET",
    "SELECT a FROM t1 LEFT JOIN t2 ON t1.k = t2.k AND t2.ts BETWEEN t1.ts - INTERVAL '1' HOUR AND t1.ts",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]

    /// Any text: an error or statements, never a panic.
    #[test]
    fn random_text_never_panics(text in "[ -~\\n]{0,200}") {
        let _ = parse_script(&text);
    }

    /// Valid scripts cut, spliced and with bytes changed: an error or statements, never a panic,
    /// and every error located inside the text.
    #[test]
    fn mutated_scripts_never_panic(
        pick in 0..CORPUS.len(),
        cuts in proptest::collection::vec((0usize..4000, 0usize..40, 0u8..6, any::<u8>()), 1..6),
    ) {
        let mut text: Vec<char> = CORPUS[pick].chars().collect();
        for (at, len, how, byte) in cuts {
            let at = at % (text.len() + 1);
            let end = (at + len).min(text.len());
            match how {
                0 => { text.drain(at..end); }
                1 => { let piece: Vec<char> = text[at..end].to_vec(); text.splice(at..at, piece); }
                2 => text.insert(at, char::from(byte % 95 + 32)),
                3 => text.insert(at, ['(', ')', '<', '>', ',', ';', '\'', '`', '-'][byte as usize % 9]),
                4 => { let w = ["SELECT", "FROM", "TABLE", "ROW<", "END", "WITH (", "NOT", "AS"][byte as usize % 8]; text.splice(at..at, w.chars()); }
                _ => if at < text.len() { text[at] = char::from(byte % 95 + 32) },
            }
        }
        let text: String = text.into_iter().collect();
        if let Err(e) = parse_script(&text) {
            let lines = text.split('\n').count() as u64;
            prop_assert!(e.line >= 1 && e.line <= lines + 1, "{e} in {text:?}");
        }
    }

}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Deeply nested input is refused, not a stack overflow.
    #[test]
    fn deep_nesting_is_an_error(depth in 100usize..3000) {
        let text = format!("SELECT {}1{}", "(".repeat(depth), ")".repeat(depth));
        prop_assert!(parse_script(&text).is_err());
        let ty = format!("{}INT{}", "ARRAY<".repeat(depth), ">".repeat(depth));
        let _ = parse_type(&ty);
    }
}
