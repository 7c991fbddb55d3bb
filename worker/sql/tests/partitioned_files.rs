//! Partitioned `filesystem` tables: what `files/partitioned.sql` leaves in its output directory
//! (the partition directories, the lines of their committed files, their `_SUCCESS` files) is
//! what Apache Flink 2.3 left (`golden/partitioned.tsv`, made by `flink/gen_partitioned.py`), in
//! batch and in streaming mode, at parallelism 1 and 4, with and without checkpoints; and the
//! table read back gives the rows the golden listing holds, decoded here without engine code.

mod common;

use common::run_tsv as run;
use std::path::Path;

const SCRIPT: &str = include_str!("files/partitioned.sql");
const GOLDEN: &str = include_str!("golden/partitioned.tsv");

/// What `out` holds, as the golden file lists it: `file<TAB>dir<TAB>line`, `success<TAB>dir`.
fn listing(out: &Path) -> Vec<String> {
    let mut lines = Vec::new();
    let mut dirs = vec![out.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let rel = dir.strip_prefix(out).unwrap().display().to_string();
            if path.is_dir() {
                dirs.push(path);
            } else if name == "_SUCCESS" {
                lines.push(format!("success\t{rel}"));
            } else if !name.starts_with(['.', '_']) {
                let text = std::fs::read_to_string(&path).unwrap();
                lines.extend(text.lines().map(|l| format!("file\t{rel}\t{l}")));
            }
        }
    }
    lines.sort();
    lines
}

/// The rows the golden listing stands for, as `SELECT id, dt, note, tag` prints them: the
/// partition values from the directory names (`%XX` undone, the default name NULL, the date from
/// its days since 1970), the others from the CSV line `id,"note"`.
fn golden_rows(golden: &[&str]) -> Vec<String> {
    let unescape = |text: &str| {
        let mut out = Vec::new();
        let bytes = text.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' {
                out.push(u8::from_str_radix(&text[i + 1..i + 3], 16).unwrap());
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        String::from_utf8(out).unwrap()
    };
    let mut rows: Vec<String> = golden
        .iter()
        .filter_map(|l| l.strip_prefix("file\t"))
        .map(|l| {
            let (dir, line) = l.split_once('\t').unwrap();
            let (dt, tag) = dir.split_once('/').unwrap();
            let days: i64 = dt.strip_prefix("dt=").unwrap().parse().unwrap();
            let date = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap() + chrono::Duration::days(days);
            let tag = match unescape(tag.strip_prefix("tag=").unwrap()).as_str() {
                "__DEFAULT_PARTITION__" => "\\N".to_string(),
                t => t.to_string(),
            };
            let (id, note) = line.split_once(',').unwrap();
            format!("+I\t{id}\t{date}\t{}\t{tag}", note.trim_matches('"'))
        })
        .collect();
    rows.sort();
    rows
}

#[test]
fn partitioned_output_is_flinks_and_reads_back() {
    let golden: Vec<&str> = GOLDEN.lines().filter(|l| !l.starts_with('#') && !l.is_empty()).collect();
    let base = std::env::temp_dir().join(format!("ff-sql-partitioned-{}", std::process::id()));
    let streaming = SCRIPT.replace("SET 'execution.runtime-mode' = 'batch';\n", "");
    assert_ne!(streaming, SCRIPT, "the script sets batch mode");
    let runs = [
        ("batch", SCRIPT, false),
        ("streaming", streaming.as_str(), false),
        ("checkpointed", streaming.as_str(), true),
    ];
    for (mode, script, checkpointed) in runs {
        for parallelism in [1, 4] {
            let run_dir = base.join(format!("{mode}-{parallelism}"));
            let out = run_dir.join("out");
            let script = script.replace("${OUT}", &out.display().to_string());
            let checkpoints = checkpointed.then(|| run_dir.join("checkpoints"));
            run(&script, parallelism, checkpoints.as_deref());
            assert_eq!(listing(&out), golden, "{mode} at parallelism {parallelism}: the output differs from Flink's");
            // The same tables, reading what was written.
            let ddl = &script[..script.find("INSERT INTO").expect("the script inserts")];
            let mut rows = run(&format!("{ddl}SELECT id, dt, note, tag FROM parted;"), parallelism, None);
            rows.sort();
            assert_eq!(rows, golden_rows(&golden), "{mode} at parallelism {parallelism}: the rows read back");
        }
    }
    std::fs::remove_dir_all(&base).unwrap();
}
