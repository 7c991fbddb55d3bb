//! The SQL `filesystem` source over `s3://` (moto): every object under the prefix at any depth,
//! hidden ones left out, a gzip object decompressed, with the job's S3 settings from the
//! environment, at parallelism 1 and 3; and a dead endpoint fails the job naming the location.
//! A partitioned table written to `s3://` gets its Hive-style partition prefixes, a `_SUCCESS`
//! object in each, and reads back with its partition columns.

mod support;

use ferroflink::state::s3::S3Storage;
use ferroflink::state::storage::CheckpointStorage;
use std::io::Write;
use std::process::{Command, Output};
use support::moto::Moto;

fn sql(moto: &Moto, endpoint: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ferroflink"))
        .arg("sql")
        .args(args)
        .env("FERROFLINK__S3__ENDPOINT", endpoint)
        .env("FERROFLINK__S3__PATH_STYLE", "true")
        .env("FERROFLINK__S3__REGION", "us-east-1")
        .env("FERROFLINK__S3__CREDENTIALS_FILE", moto.credentials_file())
        .output()
        .expect("ferroflink runs")
}

#[test]
fn a_filesystem_table_reads_every_object_under_an_s3_prefix() {
    let moto = Moto::start();
    moto.create_bucket("logs");
    let store = S3Storage::open("s3://logs/access", &moto.config(&moto.endpoint)).unwrap();
    let csv = |from: i32, n: i32| (from..from + n).map(|i| format!("{i},/p{}\n", i % 7)).collect::<String>();
    store.write("day=1/a.csv", csv(0, 400).as_bytes()).unwrap();
    store.write("day=2/nested/b.csv", csv(400, 250).as_bytes()).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(csv(650, 350).as_bytes()).unwrap();
    store.write("day=2/c.csv.gz", &gz.finish().unwrap()).unwrap();
    // Hidden: not read.
    store.write("_tmp/d.csv", csv(5000, 10).as_bytes()).unwrap();
    store.write("day=1/.e.csv", csv(6000, 10).as_bytes()).unwrap();
    let script = "CREATE TABLE logs (id INT, path STRING) WITH ('connector' = 'filesystem', \
                  'path' = 's3://logs/access', 'format' = 'csv');\n\
                  SELECT id, path FROM logs;";
    let mut expected: Vec<String> = (0..1000).map(|i| format!("+I\t{i}\t/p{}", i % 7)).collect();
    expected.sort();
    for parallelism in ["1", "3"] {
        let out = sql(&moto, &moto.endpoint, &["-e", script, "--format", "tsv", "-p", parallelism]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let mut rows: Vec<String> = String::from_utf8(out.stdout).unwrap().lines().map(str::to_string).collect();
        rows.sort();
        assert_eq!(rows, expected, "parallelism {parallelism}");
    }
    // A dead endpoint: the job fails, naming the location.
    let dead = format!(
        "http://127.0.0.1:{}",
        std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
    );
    let out = sql(&moto, &dead, &["-e", script, "--format", "tsv"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.lines().last().unwrap_or_default().contains("s3://logs/access"), "{stderr}");
}

#[test]
fn a_partitioned_table_on_s3_gets_hive_directories_success_files_and_reads_back() {
    let moto = Moto::start();
    moto.create_bucket("out");
    // The reference: each id's partition (hour, status) computed here.
    let partition = |id: i32| (id % 4, if id % 3 == 0 { "ok" } else { "bad/x" });
    let mut expected_rows: Vec<String> =
        (1..=300).map(|id| format!("+I\t{id}\t{}\t{}", partition(id).0, partition(id).1)).collect();
    expected_rows.sort();
    for parallelism in ["1", "3"] {
        let location = format!("s3://out/t{parallelism}");
        let table = format!(
            "CREATE TABLE t (id INT, hr INT, st STRING) PARTITIONED BY (hr, st) WITH ('connector' = 'filesystem', \
             'path' = '{location}', 'format' = 'csv', 'sink.partition-commit.policy.kind' = 'success-file');\n"
        );
        let write = format!(
            "SET 'execution.runtime-mode' = 'batch';\n\
             CREATE TABLE src (id INT) WITH ('connector' = 'datagen', 'number-of-rows' = '300', \
             'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '300');\n{table}\
             INSERT INTO t SELECT id, MOD(id, 4), CASE WHEN MOD(id, 3) = 0 THEN 'ok' ELSE 'bad/x' END FROM src;"
        );
        let out = sql(&moto, &moto.endpoint, &["-e", &write, "-p", parallelism]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let store = S3Storage::open(&location, &moto.config(&moto.endpoint)).unwrap();
        let (mut lines, mut marked) = (Vec::new(), Vec::new());
        for (key, _) in store.objects().unwrap() {
            let (dir, name) = key.rsplit_once('/').unwrap();
            if name == "_SUCCESS" {
                marked.push(dir.to_string());
            } else {
                let text = String::from_utf8(store.read(&key).unwrap()).unwrap();
                lines.extend(text.lines().map(|id| format!("{dir}\t{id}")));
            }
        }
        let mut expected_lines: Vec<String> = (1..=300)
            .map(|id| {
                let (hr, st) = partition(id);
                format!("hr={hr}/st={}\t{id}", st.replace('/', "%2F"))
            })
            .collect();
        expected_lines.sort();
        lines.sort();
        assert_eq!(lines, expected_lines, "parallelism {parallelism}: the partitions' files");
        let mut dirs: Vec<String> = expected_lines.iter().map(|l| l.split('\t').next().unwrap().to_string()).collect();
        dirs.dedup();
        marked.sort();
        assert_eq!(marked, dirs, "parallelism {parallelism}: a _SUCCESS object in each partition");
        let read = format!("{table}SELECT id, hr, st FROM t;");
        let out = sql(&moto, &moto.endpoint, &["-e", &read, "--format", "tsv", "-p", parallelism]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let mut rows: Vec<String> = String::from_utf8(out.stdout).unwrap().lines().map(str::to_string).collect();
        rows.sort();
        assert_eq!(rows, expected_rows, "parallelism {parallelism}: the table read back");
    }
}
