//! How rows are written as text: as Flink's `print` connector writes them (Java's `toString` of
//! its values: `+I[1, abc, 2024-01-02T03:04:05.123]`), and as `ferroflink sql` prints a query's
//! changelog (`--format tsv`: tab-separated, NULL as `\N`; the default table: Flink's `tableau`).

use crate::ast::{DataType, Type};
use crate::expr::{cast_to_local, precision_of};
use crate::functions::numeric::double_to_string;
use crate::functions::timezone::LocalZone;
use crate::value::{Row, Value, write_joined};
use chrono::{NaiveDateTime, NaiveTime, Timelike};
use std::fmt::Write as _;

/// Java's `LocalTime.toString`: `HH:mm`, then `:ss` unless seconds and fraction are zero, then
/// the fraction in groups of three digits.
fn java_time(out: &mut String, t: NaiveTime, always_seconds: bool) {
    let (s, nanos) = (t.second(), t.nanosecond());
    write!(out, "{:02}:{:02}", t.hour(), t.minute()).unwrap();
    if always_seconds || s > 0 || nanos > 0 {
        write!(out, ":{s:02}").unwrap();
    }
    if nanos > 0 {
        if nanos % 1_000_000 == 0 {
            write!(out, ".{:03}", nanos / 1_000_000).unwrap();
        } else if nanos % 1000 == 0 {
            write!(out, ".{:06}", nanos / 1000).unwrap();
        } else {
            write!(out, ".{nanos:09}").unwrap();
        }
    }
}

fn java_date_time(out: &mut String, t: NaiveDateTime, instant: bool) {
    write!(out, "{}T", t.date().format("%Y-%m-%d")).unwrap();
    java_time(out, t.time(), instant);
    if instant {
        out.push('Z');
    }
}

/// `v` as Flink's `print` connector writes it (Java's `toString` of its external form).
pub fn write_java(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Boolean(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Float(x) => out.push_str(&double_to_string(*x as f64)),
        Value::Date(d) => write!(out, "{}", d.format("%Y-%m-%d")).unwrap(),
        Value::Time(t) => java_time(out, *t, false),
        Value::Timestamp(t) => java_date_time(out, *t, false),
        Value::TimestampLtz(t) => java_date_time(out, *t, true),
        Value::Bytes(b) => write_joined(out, '[', ']', b, |out, byte| write!(out, "{}", *byte as i8).unwrap()),
        Value::Array(items) => write_joined(out, '[', ']', items, write_java),
        Value::Map(entries) => write_joined(out, '{', '}', entries, |out, (k, v)| {
            write_java(out, k);
            out.push('=');
            write_java(out, v);
        }),
        Value::Row(fields) => {
            out.push_str("+I");
            write_joined(out, '[', ']', fields, write_java);
        }
        other => other.write_sql(out, 0),
    }
}

/// A row as the `print` connector writes it: `+I[1, abc]`.
pub fn print_row(out: &mut String, row: &Row) {
    out.push_str(row.kind.short());
    write_joined(out, '[', ']', &row.values, write_java);
}

/// How `ferroflink sql` prints the columns of a query.
#[derive(Clone, Debug)]
pub struct RowPrinter {
    types: Vec<Type>,
    zone: LocalZone,
}

impl RowPrinter {
    /// A printer of rows of `types`, with `TIMESTAMP_LTZ` shown in `zone`.
    pub fn new(types: Vec<Type>, zone: LocalZone) -> RowPrinter {
        RowPrinter { types, zone }
    }

    /// `v`, a value of column `i`, as `CAST(v AS STRING)` gives it (a `TIMESTAMP_LTZ` in the zone).
    fn text(&self, out: &mut String, i: usize, v: &Value) {
        let ty = &self.types[i].data;
        match v {
            Value::TimestampLtz(t) => match cast_to_local(*t, &self.zone) {
                Some(local) => Value::Timestamp(local).write_sql(out, precision_of(ty)),
                None => v.write_sql(out, precision_of(ty)),
            },
            _ => v.write_sql(out, precision_of(ty)),
        }
    }

    /// `v`, a value of column `i`, as text (`CAST(v AS STRING)`).
    pub fn text_of(&self, i: usize, v: &Value) -> String {
        let mut out = String::new();
        self.text(&mut out, i, v);
        out
    }

    /// One line of `--format tsv`: the row kind, then the columns, tab-separated; NULL is `\N`,
    /// booleans `true`/`false`, and a tab, newline or backslash inside text is escaped.
    pub fn tsv(&self, out: &mut String, row: &Row) {
        out.push_str(row.kind.short());
        let mut cell = String::new();
        for (i, v) in row.values.iter().enumerate() {
            out.push('\t');
            match v {
                Value::Null => out.push_str("\\N"),
                Value::Boolean(b) => out.push_str(if *b { "true" } else { "false" }),
                v => {
                    cell.clear();
                    self.text(&mut cell, i, v);
                    for c in cell.chars() {
                        match c {
                            '\t' => out.push_str("\\t"),
                            '\n' => out.push_str("\\n"),
                            '\\' => out.push_str("\\\\"),
                            c => out.push(c),
                        }
                    }
                }
            }
        }
    }

    /// Width of column `i` in the table (Flink's tableau: by type, at most 30).
    fn width(&self, i: usize, name: &str) -> usize {
        let by_type = match &self.types[i].data {
            DataType::Boolean => 5,
            DataType::TinyInt => 4,
            DataType::SmallInt => 6,
            DataType::Int => 11,
            DataType::BigInt => 20,
            DataType::Date => 10,
            DataType::Time(p) => 8 + if *p > 0 { 1 + *p as usize } else { 0 },
            DataType::Timestamp(p) | DataType::TimestampLtz(p) => 19 + if *p > 0 { 1 + *p as usize } else { 0 },
            DataType::Char(n) | DataType::VarChar(n) => (*n as usize).min(30),
            _ => 30,
        };
        by_type.max(name.chars().count()).clamp(6, 30)
    }

    /// The table's border line for columns `names`.
    pub fn table_border(&self, out: &mut String, names: &[String]) {
        out.push_str("+----+");
        for (i, n) in names.iter().enumerate() {
            out.push_str(&"-".repeat(self.width(i, n) + 2));
            out.push('+');
        }
        out.push('\n');
    }

    /// The table's header for columns `names`, between borders.
    pub fn table_header(&self, out: &mut String, names: &[String]) {
        self.table_border(out, names);
        out.push_str("| op |");
        for (i, n) in names.iter().enumerate() {
            let w = self.width(i, n);
            write!(out, " {n:>w$} |").unwrap();
        }
        out.push('\n');
        self.table_border(out, names);
    }

    /// One row of the table: NULL as `<NULL>`, text longer than the column cut with `...`.
    pub fn table_row(&self, out: &mut String, names: &[String], row: &Row) {
        write!(out, "| {} |", row.kind.short()).unwrap();
        let mut cell = String::new();
        for (i, v) in row.values.iter().enumerate() {
            let w = self.width(i, &names[i]);
            cell.clear();
            match v {
                Value::Null => cell.push_str("<NULL>"),
                v => self.text(&mut cell, i, v),
            }
            let cell: String = cell.chars().map(|c| if c == '\n' || c == '\t' { ' ' } else { c }).collect();
            let shown = if cell.chars().count() > w {
                format!("{}...", cell.chars().take(w - 3).collect::<String>())
            } else {
                cell
            };
            write!(out, " {shown:>w$} |").unwrap();
        }
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    #[test]
    fn print_connector_rows_look_like_flinks() {
        // As Flink 2.3's print connector wrote them.
        let ts = NaiveDate::from_ymd_opt(2024, 1, 2).unwrap().and_hms_milli_opt(3, 4, 6, 123).unwrap();
        let row = Row::insert(vec![
            Value::BigInt(1),
            Value::Null,
            Value::Boolean(false),
            Value::Timestamp(ts),
            Value::TimestampLtz(NaiveDate::from_ymd_opt(1970, 1, 1).unwrap().and_hms_opt(0, 0, 1).unwrap()),
            Value::Time(NaiveTime::from_hms_opt(10, 11, 12).unwrap()),
            Value::Row(vec![Value::Int(1), Value::String("a".into())]),
            Value::Map(vec![(Value::String("k".into()), Value::Int(1))]),
            Value::Bytes(b"ab".to_vec()),
            Value::Timestamp(NaiveDate::from_ymd_opt(2024, 1, 2).unwrap().and_hms_opt(3, 4, 0).unwrap()),
        ]);
        let mut out = String::new();
        print_row(&mut out, &row);
        assert_eq!(
            out,
            "+I[1, null, false, 2024-01-02T03:04:06.123, 1970-01-01T00:00:01Z, 10:11:12, +I[1, a], {k=1}, [97, 98], \
             2024-01-02T03:04]"
        );
    }
}
