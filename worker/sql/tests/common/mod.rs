//! What the golden-file tests share.

/// Checks every line of a golden file made by Flink (`#` comments and blank lines skipped):
/// `differs` gets the line's tab-separated fields and says how ours differs, if it does. Fails
/// with every difference, or if the file has fewer than `at_least` lines.
pub fn check_golden(golden: &str, at_least: usize, mut differs: impl FnMut(&[&str]) -> Option<String>) {
    let (mut checked, mut wrong) = (0, Vec::new());
    for line in golden.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        let fields: Vec<&str> = line.split('\t').collect();
        wrong.extend(differs(&fields));
        checked += 1;
    }
    assert!(wrong.is_empty(), "{} of {checked} differ from Flink:\n{}", wrong.len(), wrong.join("\n"));
    assert!(checked >= at_least, "the golden file has {checked} lines, fewer than {at_least}");
}

/// A call line `name, arguments..., result`: the arguments with `\\N` as NULL, and the result.
#[allow(dead_code)] // not every golden test reads call lines
pub fn call_line<'a>(fields: &[&'a str]) -> (&'a str, Vec<Option<&'a str>>, Option<String>) {
    let (name, args, result) = (fields[0], &fields[1..fields.len() - 1], fields[fields.len() - 1]);
    let args = args.iter().map(|a| (*a != "\\N").then_some(*a)).collect();
    (name, args, (result != "\\N").then(|| result.to_string()))
}

/// The arguments of a call that returns NULL when any of them is NULL; `None` then.
#[allow(dead_code)]
pub fn all_set<'a>(args: &[Option<&'a str>]) -> Option<Vec<&'a str>> {
    args.iter().copied().collect()
}
