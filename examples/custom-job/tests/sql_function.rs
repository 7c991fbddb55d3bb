//! The function `custom-job` registers, called from SQL: bound by `CREATE FUNCTION`, its
//! argument cast to its declared type, its result the rows' (checked against a ROT13 written
//! here); a binding to an identifier the binary does not register is refused with the list.

use std::process::Command;

fn sql(script: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_custom-job")).args(["sql", "--format", "tsv", "-e", script]).output().unwrap()
}

fn rot13(s: &str) -> String {
    let shift = |c: char, base: u8| ((c as u8 - base + 13) % 26 + base) as char;
    s.chars()
        .map(|c| {
            if c.is_ascii_lowercase() {
                shift(c, b'a')
            } else if c.is_ascii_uppercase() {
                shift(c, b'A')
            } else {
                c
            }
        })
        .collect()
}

#[test]
fn a_registered_function_runs_in_sql() {
    let script = "CREATE FUNCTION secret AS 'com.example.Rot13';
CREATE TABLE t (id INT, word AS CONCAT('Word-', CAST(id AS STRING), '-xyz')) WITH (
  'connector' = 'datagen', 'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '20');
SELECT id, secret(word), secret(id) FROM t;";
    let out = sql(script);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut got: Vec<String> = String::from_utf8(out.stdout).unwrap().lines().map(str::to_string).collect();
    got.sort();
    let mut expected: Vec<String> =
        (1..=20).map(|i| format!("+I\t{i}\t{}\t{i}", rot13(&format!("Word-{i}-xyz")))).collect();
    expected.sort();
    assert_eq!(got, expected);
}

#[test]
fn an_unregistered_identifier_is_refused_with_the_registered_ones() {
    let out = sql("CREATE FUNCTION f AS 'com.example.Nope';
CREATE TABLE t (id INT) WITH ('connector' = 'datagen', 'number-of-rows' = '1');
SELECT f(id) FROM t;");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("'com.example.Nope'") && stderr.contains("com.example.Rot13"), "{stderr}");
}
