//! Nexmark q0, q1, q2, q5, q7 and q8 in SQL, as the nexmark repository writes them over its
//! `nexmark` table and views, give the rows of the DataStream versions (`ferroflink run nexmark
//! --query qN`) over the same generated events, and q11's legacy session windows the sessions
//! computed here from the DataStream q0's bids; each side's output is put in one form here, with
//! no engine code.

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
/// repository's table and views ([`nexmark_views`]).
fn sql(query: &str, columns: &str, out: &Path) {
    let script = format!(
        "{}
CREATE TABLE sink ({columns}) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');
INSERT INTO sink {query};",
        nexmark_views(EVENTS),
        out.display()
    );
    ferroflink(&["sql", "-e", &script, "-p", "2"]);
}

/// The DataStream version of `query` over `events` events into `out` (its records in Rust's
/// `Debug` form); its generator's event rate is the table's (event times follow it).
fn datastream(query: &str, events: u64, out: &Path) {
    let events = events.to_string();
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
    datastream("q0", EVENTS, &ds_out.join("q0"));
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
    datastream("q1", EVENTS, &ds_out.join("q1"));
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
    datastream("q2", EVENTS, &ds_out.join("q2"));
    let mut want: Vec<String> =
        lines(&ds_out.join("q2")).iter().map(|l| l.trim_matches(['(', ')']).replace(", ", ",")).collect();
    want.sort();
    assert!(!want.is_empty());
    assert_eq!(lines(&sql_out.join("q2")), want, "q2");
    let _ = std::fs::remove_dir_all(&root);
}

/// The repository's `person`, `auction` and `bid` views over its table (`nexmark_table.sql`, its
/// `ddl_gen.sql` without the WITH clause), with `events.num` events.
fn nexmark_views(events: u64) -> String {
    format!(
        "{} WITH ('connector' = 'nexmark', 'first-event.rate' = '10000', 'events.num' = '{events}');
CREATE VIEW person AS SELECT person.id, person.name, person.emailAddress, person.creditCard, person.city, person.state, `dateTime`, person.extra FROM nexmark WHERE event_type = 0;
CREATE VIEW auction AS SELECT auction.id, auction.itemName, auction.description, auction.initialBid, auction.reserve, `dateTime`, auction.expires, auction.seller, auction.category, auction.extra FROM nexmark WHERE event_type = 1;
CREATE VIEW bid AS SELECT bid.auction, bid.bidder, bid.price, bid.channel, bid.url, `dateTime`, bid.extra FROM nexmark WHERE event_type = 2;",
        include_str!("../sql/tests/nexmark_table.sql")
    )
}

/// The rows `query` over `events` events ends with (its changelog applied), each as its columns
/// joined by `,`, sorted.
fn query_rows(query: &str, events: u64) -> Vec<String> {
    let script = format!("{}\n{query};", nexmark_views(events));
    let out = Command::new(env!("CARGO_BIN_EXE_ferroflink"))
        .args(["sql", "-e", &script, "-p", "2", "--format", "tsv"])
        .output()
        .expect("ferroflink runs");
    assert!(out.status.success(), "{query}: {}", String::from_utf8_lossy(&out.stderr));
    let mut rows: Vec<String> = Vec::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let (kind, row) = line.split_once('\t').unwrap_or_else(|| panic!("a changelog row: {line}"));
        let row = row.replace('\t', ",");
        match kind {
            "+I" | "+U" => rows.push(row),
            "-U" | "-D" => {
                let at =
                    rows.iter().position(|r| *r == row).unwrap_or_else(|| panic!("{kind} of a row not there: {row}"));
                rows.swap_remove(at);
            }
            other => panic!("not a change kind: {other}"),
        }
    }
    rows.sort();
    rows
}

/// The fields of a `Debug` tuple line: `(1, "a", 2)` gives `["1", "a", "2"]`.
fn tuple(line: &str) -> Vec<String> {
    line.trim_matches(['(', ')']).split(", ").map(|f| f.trim_matches('"').to_string()).collect()
}

/// The DataStream version's `Debug` lines of `query` over `events` events.
fn datastream_lines(query: &str, events: u64) -> Vec<String> {
    let dir = std::env::temp_dir().join(format!("ff-nexmark-ds-{query}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    datastream(query, events, &dir);
    let all = lines(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    all
}

#[test]
fn sql_q5_q7_q8_equal_the_datastream_versions() {
    // Windowed: over 5 s of event time (the table's rate is one of wall time too).
    let windowed = 50_000;
    // q5: the auctions with the most bids of each 10 s window sliding by 2 s, as (auction, bids).
    let got = query_rows(
        "SELECT AuctionBids.auction, AuctionBids.num
 FROM (
   SELECT auction, count(*) AS num, window_start AS starttime, window_end AS endtime
   FROM TABLE(HOP(TABLE bid, DESCRIPTOR(`dateTime`), INTERVAL '2' SECOND, INTERVAL '10' SECOND))
   GROUP BY auction, window_start, window_end
 ) AS AuctionBids
 JOIN (
   SELECT max(CountBids.num) AS maxn, CountBids.starttime, CountBids.endtime
   FROM (
     SELECT count(*) AS num, window_start AS starttime, window_end AS endtime
     FROM TABLE(HOP(TABLE bid, DESCRIPTOR(`dateTime`), INTERVAL '2' SECOND, INTERVAL '10' SECOND))
     GROUP BY auction, window_start, window_end
   ) AS CountBids
   GROUP BY CountBids.starttime, CountBids.endtime
 ) AS MaxBids
 ON AuctionBids.starttime = MaxBids.starttime AND AuctionBids.endtime = MaxBids.endtime AND AuctionBids.num >= MaxBids.maxn",
        windowed,
    );
    let mut want: Vec<String> = datastream_lines("q5", windowed)
        .iter()
        .map(|l| {
            let f = tuple(l);
            format!("{},{}", f[1], f[2])
        })
        .collect();
    want.sort();
    assert!(want.len() > 5, "{} hot items", want.len());
    assert_eq!(got, want, "q5");

    // q7: the bids of the highest price of each 10 s window.
    let got = query_rows(
        "SELECT B.auction, B.price, B.bidder, B.`dateTime`, B.extra
from bid B
JOIN (
  SELECT MAX(price) AS maxprice, window_end as `dateTime`
  FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(`dateTime`), INTERVAL '10' SECOND))
  GROUP BY window_start, window_end
) B1
ON B.price = B1.maxprice
WHERE B.`dateTime` BETWEEN B1.`dateTime`  - INTERVAL '10' SECOND AND B1.`dateTime`",
        windowed,
    );
    let mut got: Vec<String> = got.iter().map(|r| r.splitn(5, ',').take(4).collect::<Vec<_>>().join(",")).collect();
    got.sort();
    let mut want: Vec<String> = datastream_lines("q7", windowed)
        .iter()
        .map(|l| {
            let f = tuple(l);
            format!("{},{},{},{}", f[2], f[1], f[3], timestamp(f[4].parse().unwrap()))
        })
        .collect();
    want.sort();
    assert!(!want.is_empty(), "{} highest bids", want.len());
    assert_eq!(got, want, "q7");

    // q8: the persons who opened an auction in the 10 s window they registered in.
    let got = query_rows(
        "SELECT P.id, P.name, P.starttime
FROM (
  SELECT id, name, window_start AS starttime, window_end AS endtime
  FROM TABLE(TUMBLE(TABLE person, DESCRIPTOR(`dateTime`), INTERVAL '10' SECOND))
  GROUP BY id, name, window_start, window_end
) P
JOIN (
  SELECT seller, window_start AS starttime, window_end AS endtime
  FROM TABLE(TUMBLE(TABLE auction, DESCRIPTOR(`dateTime`), INTERVAL '10' SECOND))
  GROUP BY seller, window_start, window_end
) A
ON P.id = A.seller AND P.starttime = A.starttime AND P.endtime = A.endtime",
        EVENTS,
    );
    let mut want: Vec<String> = datastream_lines("q8", EVENTS)
        .iter()
        .map(|l| {
            let f = tuple(l);
            format!("{},{},{}", f[0], f[1], timestamp(f[2].parse().unwrap()))
        })
        .collect();
    want.sort();
    assert!(want.len() > 5, "{} new users", want.len());
    assert_eq!(got, want, "q8");
}

/// Session windows of `gap` ms over each bidder's bid times: (bidder, bids, start, end), a
/// session ending `gap` after its last bid; computed here from the DataStream q0's bids.
fn sessions(bids: &[(u64, i64)], gap: i64) -> Vec<String> {
    let mut by_bidder: std::collections::BTreeMap<u64, Vec<i64>> = Default::default();
    for (bidder, time) in bids {
        by_bidder.entry(*bidder).or_default().push(*time);
    }
    let mut out = Vec::new();
    for (bidder, mut times) in by_bidder {
        times.sort();
        let (mut start, mut last, mut n) = (times[0], times[0], 0);
        for t in times {
            if t - last >= gap {
                out.push(format!("{bidder},{n},{},{}", timestamp(start), timestamp(last + gap)));
                (start, n) = (t, 0);
            }
            last = t;
            n += 1;
        }
        out.push(format!("{bidder},{n},{},{}", timestamp(start), timestamp(last + gap)));
    }
    out.sort();
    out
}

#[test]
fn sql_q11_legacy_session_windows_equal_sessions_computed_from_the_bids() {
    let got = query_rows(
        "SELECT
    B.bidder,
    count(*) as bid_count,
    SESSION_START(B.`dateTime`, INTERVAL '10' SECOND) as starttime,
    SESSION_END(B.`dateTime`, INTERVAL '10' SECOND) as endtime
FROM bid B
GROUP BY B.bidder, SESSION(B.`dateTime`, INTERVAL '10' SECOND)",
        EVENTS,
    );
    let bids: Vec<(u64, i64)> = datastream_lines("q0", EVENTS)
        .iter()
        .map(|l| (field(l, "bidder").parse().unwrap(), field(l, "date_time").parse().unwrap()))
        .collect();
    assert!(bids.len() > 1000);
    let want = sessions(&bids, 10_000);
    assert!(want.len() > 100, "{} sessions", want.len());
    assert_eq!(got, want);
}
