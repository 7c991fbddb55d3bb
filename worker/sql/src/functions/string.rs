//! Flink's string functions, on non-NULL arguments (a NULL argument makes each of them NULL, which
//! the evaluator decides before calling; `CONCAT_WS` skips NULL values, so it takes `Option`s).
//! `None` is a NULL result. Semantics are Flink 2.3's, checked against it by
//! `tests/string_functions.rs` (the golden file comes from `tests/flink/gen_functions.py`).
//!
//! Lengths and positions count Unicode code points, as Flink does. Regular expressions use the
//! `regex` crate: Java's syntax mostly, without look-around and back-references (a pattern using
//! them is invalid, and an invalid pattern gives NULL as in Flink).

use regex::Regex;

/// `CONCAT(s1, s2, ...)`.
pub fn concat(parts: &[&str]) -> String {
    parts.concat()
}

/// `CONCAT_WS(separator, s1, s2, ...)`: the non-NULL values joined by the separator.
pub fn concat_ws(separator: &str, parts: &[Option<&str>]) -> String {
    let mut out = String::new();
    for (i, p) in parts.iter().flatten().enumerate() {
        if i > 0 {
            out.push_str(separator);
        }
        out.push_str(p);
    }
    out
}

/// The byte offset of code point `n` of `s` (its length past the end).
fn offset(s: &str, n: usize) -> usize {
    s.char_indices().nth(n).map_or(s.len(), |(i, _)| i)
}

/// `SUBSTRING(s FROM pos [FOR len])`: from code point `pos` (1-based; 0 is 1; negative counts from
/// the end), `len` code points or to the end. A start before the beginning or past the end gives
/// the empty string; a negative length gives NULL.
pub fn substring(s: &str, pos: i64, len: Option<i64>) -> Option<String> {
    if len.is_some_and(|l| l < 0) {
        return None;
    }
    let chars = s.chars().count() as i64;
    let start = match pos {
        p if p > 0 => p - 1,
        0 => 0,
        p => chars + p,
    };
    if start < 0 || start >= chars {
        return Some(String::new());
    }
    let end = len.map_or(chars, |l| start.saturating_add(l).min(chars));
    let from = offset(s, start as usize);
    let to = from + offset(&s[from..], (end - start) as usize);
    Some(s[from..to].to_string())
}

/// `UPPER(s)` (full Unicode case mapping: `ß` becomes `SS`, as in Java).
pub fn upper(s: &str) -> String {
    s.to_uppercase()
}

/// `LOWER(s)`.
pub fn lower(s: &str) -> String {
    s.to_lowercase()
}

/// Which ends `TRIM` trims.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrimSide {
    /// `BOTH` (the default).
    Both,
    /// `LEADING`.
    Leading,
    /// `TRAILING`.
    Trailing,
}

/// `TRIM([BOTH | LEADING | TRAILING] [chars] FROM s)`: removes any of `chars` (default: the space
/// only, not tabs) from the given ends.
pub fn trim(s: &str, side: TrimSide, chars: &str) -> String {
    let set = |c: char| chars.contains(c);
    match side {
        TrimSide::Both => s.trim_matches(set),
        TrimSide::Leading => s.trim_start_matches(set),
        TrimSide::Trailing => s.trim_end_matches(set),
    }
    .to_string()
}

/// `REPLACE(s, from, to)`: every occurrence; an empty `from` inserts `to` around every code point.
pub fn replace(s: &str, from: &str, to: &str) -> String {
    s.replace(from, to)
}

/// `CHAR_LENGTH(s)`, `CHARACTER_LENGTH(s)`: code points.
pub fn char_length(s: &str) -> i32 {
    s.chars().count() as i32
}

/// `LPAD(s, len, pad)` (`left`) and `RPAD(s, len, pad)`: `s` cut or padded to `len` code points
/// with repetitions of `pad`; NULL for a negative length or an empty pad.
pub fn pad(s: &str, len: i64, pad: &str, left: bool) -> Option<String> {
    if len < 0 || pad.is_empty() {
        return None;
    }
    let len = len as usize;
    let chars = s.chars().count();
    if len <= chars {
        return Some(s[..offset(s, len)].to_string());
    }
    let filler: String = pad.chars().cycle().take(len - chars).collect();
    Some(if left { filler + s } else { s.to_string() + &filler })
}

/// `SPLIT_INDEX(s, delimiter, index)`: the `index`th (from 0) piece of `s` split at every
/// `delimiter` (empty pieces kept); NULL for a negative or too large index and for an empty `s`.
/// An empty delimiter splits at runs of whitespace, as Flink's (Apache Commons') split does.
pub fn split_index(s: &str, delimiter: &str, index: i64) -> Option<String> {
    if index < 0 || s.is_empty() {
        return None;
    }
    let index = index as usize;
    if delimiter.is_empty() {
        return s.split_whitespace().nth(index).map(str::to_string);
    }
    s.split(delimiter).nth(index).map(str::to_string)
}

/// A pattern of `REGEXP_EXTRACT`, `REGEXP_REPLACE` and `REGEXP`; `None` when invalid (the
/// functions then return NULL, or false for `REGEXP`, as Flink's do).
pub fn pattern(regex: &str) -> Option<Regex> {
    Regex::new(regex).ok()
}

/// `REGEXP_EXTRACT(s, regex [, index])`: group `index` (default 0, the whole match) of the first
/// match; NULL without a match or with fewer groups.
pub fn regexp_extract(s: &str, regex: Option<&Regex>, index: i64) -> Option<String> {
    let caps = regex?.captures(s)?;
    let group = usize::try_from(index).ok()?;
    caps.get(group).map(|m| m.as_str().to_string())
}

/// `REGEXP_REPLACE(s, regex, replacement)`: every match replaced by `replacement` taken literally
/// (Flink expands no `$1`). Matches are found as Java finds them: an empty match right after a
/// non-empty one counts too (`REGEXP_REPLACE('aaa', 'a*', '-')` is `--`).
pub fn regexp_replace(s: &str, regex: Option<&Regex>, replacement: &str) -> Option<String> {
    let regex = regex?;
    let (mut out, mut copied, mut from) = (String::with_capacity(s.len()), 0, 0);
    while from <= s.len() {
        let Some(m) = regex.find_at(s, from) else { break };
        out.push_str(&s[copied..m.start()]);
        out.push_str(replacement);
        copied = m.end();
        from = if m.is_empty() { m.end() + s[m.end()..].chars().next().map_or(1, char::len_utf8) } else { m.end() };
    }
    out.push_str(&s[copied.min(s.len())..]);
    Some(out)
}

/// `REGEXP(s, regex)`: whether some part of `s` matches; false for an empty or invalid pattern.
pub fn regexp(s: &str, regex: Option<&Regex>) -> bool {
    regex.is_some_and(|r| !r.as_str().is_empty() && r.is_match(s))
}
