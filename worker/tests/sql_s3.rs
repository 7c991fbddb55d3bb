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

/// `ferroflink sql <args>` with the S3 settings of `moto` at `endpoint`.
fn sql_command(moto: &Moto, endpoint: &str, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ferroflink"));
    command
        .arg("sql")
        .args(args)
        .env("FERROFLINK__S3__ENDPOINT", endpoint)
        .env("FERROFLINK__S3__PATH_STYLE", "true")
        .env("FERROFLINK__S3__REGION", "us-east-1")
        .env("FERROFLINK__S3__CREDENTIALS_FILE", moto.credentials_file());
    command
}

fn sql(moto: &Moto, endpoint: &str, args: &[&str]) -> Output {
    sql_command(moto, endpoint, args).output().expect("ferroflink runs")
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
        let rows = rows_of(&moto, &format!("{table}SELECT id, hr, st FROM t;"), parallelism);
        assert_eq!(rows, expected_rows, "parallelism {parallelism}: the table read back");
    }
}

/// The rows `ferroflink sql --format tsv` prints for `script`, sorted.
fn rows_of(moto: &Moto, script: &str, parallelism: &str) -> Vec<String> {
    let out = sql(moto, &moto.endpoint, &["-e", script, "--format", "tsv", "-p", parallelism]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut rows: Vec<String> = String::from_utf8(out.stdout).unwrap().lines().map(str::to_string).collect();
    rows.sort();
    rows
}

#[test]
fn the_access_log_job_reads_s3_and_writes_partitioned_s3_output_with_the_local_rows() {
    let moto = Moto::start();
    moto.create_bucket("logs");
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/sql/tests/data/access");
    let store = S3Storage::open("s3://logs/access", &moto.config(&moto.endpoint)).unwrap();
    for entry in std::fs::read_dir(data).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        store.write(&format!("day=07/{name}"), &std::fs::read(&path).unwrap()).unwrap();
    }
    let parsed = |path: &str| {
        format!(
            "CREATE TABLE logs (line STRING) WITH ('connector' = 'filesystem', 'path' = '{path}', 'format' = 'raw');\n\
             CREATE VIEW parsed AS SELECT REGEXP_EXTRACT(line, '\\[\\d+/\\w+/\\d+:(\\d\\d):', 1) AS hr,\n\
             CAST(REGEXP_EXTRACT(line, '\" (\\d\\d\\d) \\d+ ', 1) AS INT) AS status,\n\
             CAST(REGEXP_EXTRACT(line, '\" \\d\\d\\d (\\d+) ', 1) AS BIGINT) AS size,\n\
             REGEXP_EXTRACT(line, '\"GET ([^ ]+) HTTP', 1) AS path FROM logs;\n"
        )
    };
    let status =
        "SELECT hr, status, COUNT(*), SUM(size), MAX(size) FROM parsed WHERE status IS NOT NULL GROUP BY hr, status";
    let top = "SELECT hr, path, hits, rn FROM (SELECT hr, path, hits, ROW_NUMBER() OVER (PARTITION BY hr ORDER BY hits DESC, path) AS rn \
               FROM (SELECT hr, path, COUNT(*) AS hits FROM parsed WHERE path IS NOT NULL AND status IS NOT NULL GROUP BY hr, path)) WHERE rn <= 10";
    // The rows from the local files (which the conformance suite checks against Flink's).
    let batch = "SET 'execution.runtime-mode' = 'batch';\n";
    let local_status = rows_of(&moto, &format!("{batch}{}{status};", parsed(data)), "1");
    let local_top = rows_of(&moto, &format!("{batch}{}{top};", parsed(data)), "1");
    assert!(local_status.len() > 100 && local_top.len() > 100);
    for parallelism in ["1", "4"] {
        let out = format!("s3://logs/out-{parallelism}");
        let sinks = format!(
            "CREATE TABLE by_status (status INT, hits BIGINT, total_size BIGINT, largest BIGINT, hr STRING) PARTITIONED BY (hr) \
             WITH ('connector' = 'filesystem', 'path' = '{out}/status', 'format' = 'csv', 'sink.partition-commit.policy.kind' = 'success-file');\n\
             CREATE TABLE top_paths (path STRING, hits BIGINT, rn BIGINT, hr STRING) PARTITIONED BY (hr) \
             WITH ('connector' = 'filesystem', 'path' = '{out}/paths', 'format' = 'csv', 'sink.partition-commit.policy.kind' = 'success-file');\n"
        );
        let job = format!(
            "{batch}{}{sinks}EXECUTE STATEMENT SET BEGIN\n\
             INSERT INTO by_status SELECT status, hits, total, largest, hr FROM (SELECT hr, status, COUNT(*) AS hits, SUM(size) AS total, MAX(size) AS largest FROM parsed WHERE status IS NOT NULL GROUP BY hr, status);\n\
             INSERT INTO top_paths SELECT path, hits, rn, hr FROM ({top});\nEND;",
            parsed("s3://logs/access")
        );
        let run = sql(&moto, &moto.endpoint, &["-e", &job, "-p", parallelism]);
        assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
        let read_status = rows_of(
            &moto,
            &format!("{sinks}SELECT hr, status, hits, total_size, largest FROM by_status;"),
            parallelism,
        );
        let read_top = rows_of(&moto, &format!("{sinks}SELECT hr, path, hits, rn FROM top_paths;"), parallelism);
        assert_eq!(read_status, local_status, "parallelism {parallelism}: hits per hour and status");
        assert_eq!(read_top, local_top, "parallelism {parallelism}: the top paths");
        let written =
            S3Storage::open(&format!("{out}/status"), &moto.config(&moto.endpoint)).unwrap().objects().unwrap();
        let marked = written.iter().filter(|(k, _)| k.ends_with("/_SUCCESS")).count();
        assert_eq!(marked, 24, "parallelism {parallelism}: a _SUCCESS object in each hour's partition");
    }
}

#[test]
fn a_monitored_s3_prefix_reads_each_new_object_once() {
    let moto = Moto::start();
    moto.create_bucket("stream");
    let store = S3Storage::open("s3://stream/in", &moto.config(&moto.endpoint)).unwrap();
    let root = std::env::temp_dir().join(format!("ff-s3-monitor-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let out = root.join("out");
    let objects = |name: &str, n: usize| (0..n).map(|i| format!("{name},{i}\n")).collect::<String>();
    store.write("a.csv", objects("a", 3000).as_bytes()).unwrap();
    let script = format!(
        "CREATE TABLE src (f STRING, i INT) WITH ('connector' = 'filesystem', 'path' = 's3://stream/in', 'format' = 'csv', \
         'source.monitor-interval' = '100 ms');\n\
         CREATE TABLE out (f STRING, i INT) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');\n\
         INSERT INTO out SELECT f, i FROM src;",
        out.display()
    );
    let checkpoints = root.join("checkpoints");
    let checkpoint_dir = checkpoints.display().to_string();
    let flags = ["-e", &script, "-p", "2", "--checkpoint-interval", "100ms", "--checkpoint-dir", &checkpoint_dir];
    let mut job = sql_command(&moto, &moto.endpoint, &flags)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let committed = || {
        let mut lines: Vec<String> = std::fs::read_dir(&out)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| !e.file_name().to_string_lossy().starts_with(['.', '_']))
            .flat_map(|e| std::fs::read_to_string(e.path()).unwrap().lines().map(str::to_string).collect::<Vec<_>>())
            .collect();
        lines.sort();
        lines
    };
    let wait_for = |n: usize| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while committed().len() < n {
            assert!(std::time::Instant::now() < deadline, "{n} lines not committed within 60 s");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    };
    wait_for(3000);
    store.write("day=2/b.csv", objects("b", 2000).as_bytes()).unwrap();
    store.write("_tmp/c.csv", objects("c", 10).as_bytes()).unwrap();
    wait_for(5000);
    std::thread::sleep(std::time::Duration::from_millis(500));
    job.kill().unwrap();
    job.wait().unwrap();
    let mut expected: Vec<String> = (objects("a", 3000) + &objects("b", 2000)).lines().map(str::to_string).collect();
    expected.sort();
    assert_eq!(committed(), expected, "each object's lines once, the hidden one left out");
    std::fs::remove_dir_all(&root).unwrap();
}
