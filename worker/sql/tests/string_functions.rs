//! Our string functions against Apache Flink 2.3's results on the same calls
//! (`tests/golden/string_functions.tsv`, made by `tests/flink/gen_functions.py`).

mod common;

use ferroflink_sql::functions::string::{self as f, TrimSide};

/// A golden field: `\N` is NULL; `\\`, `\t` and `\n` are escapes.
fn field(text: &str) -> Option<String> {
    if text == "\\N" {
        return None;
    }
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    Some(out)
}

fn int(a: &Option<String>) -> Option<i64> {
    a.as_ref().map(|s| s.parse().expect("an integer argument"))
}

/// Calls `name` on `args` as the evaluator will: NULL in, NULL out (except `CONCAT_WS`'s values).
fn call(name: &str, args: &[Option<String>]) -> Option<String> {
    let s = |i: usize| args[i].as_deref();
    let all = |n: usize| (0..n).all(|i| args[i].is_some());
    if name != "CONCAT_WS" && !all(args.len()) {
        return None;
    }
    let (a0, a1, a2) = (s(0), args.get(1).and_then(|a| a.as_deref()), args.get(2).and_then(|a| a.as_deref()));
    Some(match name {
        "CONCAT" => f::concat(&args.iter().map(|a| a.as_deref().unwrap()).collect::<Vec<_>>()),
        "CONCAT_WS" => f::concat_ws(a0?, &args[1..].iter().map(|a| a.as_deref()).collect::<Vec<_>>()),
        "SUBSTRING" => f::substring(a0?, int(&args[1])?, int(&args[2]))?,
        "SUBSTR2" => f::substring(a0?, int(&args[1])?, None)?,
        "UPPER" => f::upper(a0?),
        "LOWER" => f::lower(a0?),
        "TRIM" => f::trim(a0?, TrimSide::Both, " "),
        "TRIM_LEADING" => f::trim(a0?, TrimSide::Leading, a1?),
        "TRIM_TRAILING" => f::trim(a0?, TrimSide::Trailing, a1?),
        "TRIM_BOTH" => f::trim(a0?, TrimSide::Both, a1?),
        "REPLACE" => f::replace(a0?, a1?, a2?),
        "CHAR_LENGTH" => f::char_length(a0?).to_string(),
        "LPAD" => f::pad(a0?, int(&args[1])?, a2?, true)?,
        "RPAD" => f::pad(a0?, int(&args[1])?, a2?, false)?,
        "SPLIT_INDEX" => f::split_index(a0?, a1?, int(&args[2])?)?,
        "REGEXP_EXTRACT" => f::regexp_extract(a0?, f::pattern(a1?).as_ref(), int(&args[2])?)?,
        "REGEXP_EXTRACT2" => f::regexp_extract(a0?, f::pattern(a1?).as_ref(), 0)?,
        "REGEXP_REPLACE" => f::regexp_replace(a0?, f::pattern(a1?).as_ref(), a2?)?,
        // CAST(BOOLEAN AS STRING) is upper case in Flink.
        "REGEXP" => if f::regexp(a0?, f::pattern(a1?).as_ref()) { "TRUE" } else { "FALSE" }.to_string(),
        other => panic!("no function {other} in the golden file's vocabulary"),
    })
}

#[test]
fn string_functions_give_flinks_results() {
    common::check_golden(include_str!("golden/string_functions.tsv"), 120, |fields| {
        let (name, args, expected) = (fields[0], &fields[1..fields.len() - 1], fields[fields.len() - 1]);
        assert_ne!(expected, "!error", "{fields:?}: Flink failed this call; the golden file needs a look");
        let args: Vec<Option<String>> = args.iter().map(|a| field(a)).collect();
        let got = call(name, &args);
        (got != field(expected)).then(|| format!("{name}{args:?}: Flink {expected:?}, ours {got:?}"))
    });
}

proptest::proptest! {
    /// Any text and any numbers: a value, never a panic (positions and lengths count code points,
    /// so a cut inside a multi-byte character would panic).
    #[test]
    fn no_argument_panics(s in "\\PC{0,12}", t in "\\PC{0,3}", a in proptest::num::i64::ANY, b in -20i64..20) {
        let _ = f::substring(&s, a, Some(b));
        let _ = f::substring(&s, b, None);
        let _ = f::pad(&s, b, &t, true);
        let _ = f::pad(&s, b, &t, false);
        let _ = f::split_index(&s, &t, b);
        let _ = f::trim(&s, TrimSide::Both, &t);
        let re = f::pattern(&t);
        let _ = f::regexp_extract(&s, re.as_ref(), b);
        let _ = f::regexp_replace(&s, re.as_ref(), "x");
        let _ = f::regexp(&s, re.as_ref());
        proptest::prop_assert_eq!(f::char_length(&s) as usize, s.chars().count());
    }
}
