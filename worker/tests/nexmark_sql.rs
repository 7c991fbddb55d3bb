//! Nexmark q0, q1 and q2 in SQL, as the nexmark repository writes them over its `nexmark` table and
//! `bid` view, give the rows of the DataStream versions (`ferroflink run nexmark --query qN`) over
//! the same generated events; each side's output is put in one form here, with no engine code.

use std::path::Path;
use std::process::Command;

const EVENTS: u64 = 20_000;

fn ferroflink(args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_ferroflink")).args(args).output().expect("ferroflink runs");
    assert!(out.status.success(), "ferroflink {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// The committed part files' lines under `dir`, sorted.
fn lines(dir: &Path) -> Vec<String> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.starts_with(['.', '_']) {
            all.extend(std::fs::read_to_string(&path).unwrap().lines().map(str::to_string));
        }
    }
    all.sort();
    all
}

/// `query` (the repository's SELECT) into a CSV table of `columns` under `out`, over the
/// repository's table (`nexmark_table.sql`, its `ddl_gen.sql` without the WITH clause) and `bid`
/// view.
fn sql(query: &str, columns: &str, out: &Path) {
    let script = format!(
        "{} WITH ('connector' = 'nexmark', 'first-event.rate' = '10000', 'events.num' = '{EVENTS}');
CREATE VIEW bid AS SELECT bid.auction, bid.bidder, bid.price, bid.channel, bid.url, `dateTime`, bid.extra FROM nexmark WHERE event_type = 2;
CREATE TABLE sink ({columns}) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');
INSERT INTO sink {query};",
        include_str!("../sql/tests/nexmark_table.sql"),
        out.display()
    );
    ferroflink(&["sql", "-e", &script, "-p", "2"]);
}

/// The DataStream version of `query` into `out` (its records in Rust's `Debug` form); its
/// generator's event rate is the table's (event times follow it).
fn datastream(query: &str, out: &Path) {
    let events = EVENTS.to_string();
    ferroflink(&["run", "nexmark", "--query", query, "--events", &events, "--output", out.to_str().unwrap()]);
}

/// The value after `field: ` in a `Debug` line, up to the next `,` or ` }` (a string's quotes
/// removed).
fn field<'a>(line: &'a str, name: &str) -> &'a str {
    let at = line.find(&format!(" {name}: ")).unwrap_or_else(|| panic!("no {name} in {line}")) + name.len() + 3;
    let rest = &line[at..];
    if let Some(quoted) = rest.strip_prefix('"') {
        return &quoted[..quoted.find('"').unwrap()];
    }
    &rest[..rest.find([',', ' ']).unwrap_or(rest.len())]
}

/// Epoch milliseconds as a `TIMESTAMP(3)` in UTC (`2015-07-15 00:00:01.234`).
fn timestamp(ms: i64) -> String {
    let (days, ms_of_day) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s, milli) = (ms_of_day / 3_600_000, ms_of_day / 60_000 % 60, ms_of_day / 1000 % 60, ms_of_day % 1000);
    format!("{year:04}-{month:02}-{day:02} {h:02}:{m:02}:{s:02}.{milli:03}")
}

#[test]
fn sql_q0_q1_q2_equal_the_datastream_versions() {
    let root = std::env::temp_dir().join(format!("ff-nexmark-sql-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let (sql_out, ds_out) = (root.join("sql"), root.join("datastream"));

    sql(
        "SELECT auction, bidder, price, `dateTime`, extra FROM bid",
        "auction BIGINT, bidder BIGINT, price BIGINT, `dateTime` TIMESTAMP(3), extra VARCHAR",
        &sql_out.join("q0"),
    );
    datastream("q0", &ds_out.join("q0"));
    let want: Vec<String> = lines(&ds_out.join("q0"))
        .iter()
        .map(|l| {
            let time = timestamp(field(l, "date_time").parse().unwrap());
            format!("{},{},{},{time},{}", field(l, "auction"), field(l, "bidder"), field(l, "price"), field(l, "extra"))
        })
        .collect();
    let mut want = want;
    want.sort();
    assert!(want.len() > 1000, "{} bids", want.len());
    assert_eq!(lines(&sql_out.join("q0")), want, "q0");

    sql(
        "SELECT auction, bidder, 0.908 * price as price, `dateTime`, extra FROM bid",
        "auction BIGINT, bidder BIGINT, price DECIMAL(23, 3), `dateTime` TIMESTAMP(3), extra VARCHAR",
        &sql_out.join("q1"),
    );
    datastream("q1", &ds_out.join("q1"));
    // The DataStream version's price is an f64; the exact product has three decimals.
    let mut want: Vec<(String, String, String, String)> = lines(&ds_out.join("q1"))
        .iter()
        .map(|l| {
            let price: f64 = field(l, "price").parse().unwrap();
            let time = timestamp(field(l, "date_time").parse().unwrap());
            (field(l, "auction").into(), field(l, "bidder").into(), format!("{price:.3}"), time)
        })
        .collect();
    want.sort();
    let mut got: Vec<(String, String, String, String)> = lines(&sql_out.join("q1"))
        .iter()
        .map(|l| {
            let f: Vec<&str> = l.splitn(5, ',').collect();
            (f[0].into(), f[1].into(), f[2].into(), f[3].into())
        })
        .collect();
    got.sort();
    assert_eq!(got, want, "q1");

    sql(
        "SELECT auction, price FROM bid WHERE MOD(auction, 123) = 0",
        "auction BIGINT, price BIGINT",
        &sql_out.join("q2"),
    );
    datastream("q2", &ds_out.join("q2"));
    let mut want: Vec<String> =
        lines(&ds_out.join("q2")).iter().map(|l| l.trim_matches(['(', ')']).replace(", ", ",")).collect();
    want.sort();
    assert!(!want.is_empty());
    assert_eq!(lines(&sql_out.join("q2")), want, "q2");
    let _ = std::fs::remove_dir_all(&root);
}
