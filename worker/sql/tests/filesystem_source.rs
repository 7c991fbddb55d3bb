//! The `filesystem` source: malformed records with `*.ignore-parse-errors` set are skipped and
//! counted in the source's `numRecordsInErrors` metric, and `.gz`/`.zst` files in a directory tree
//! are read with the plain ones, at parallelism 1 and 3.

use ferroflink_connectors::collect::CollectSink;
use ferroflink_datastream::StreamExecutionEnvironment;
use ferroflink_sql::planner::Planner;
use ferroflink_sql::{Effect, Session, parse_script};

/// Runs the script's query at `parallelism`: its rows' first column, sorted, and the malformed
/// records its sources counted.
fn run(script: &str, parallelism: usize) -> (Vec<String>, u64) {
    let mut session = Session::new();
    let mut result = None;
    for statement in parse_script(script).unwrap() {
        if let Effect::Query(query) = session.execute(&statement).unwrap() {
            let env = StreamExecutionEnvironment::new();
            env.set_parallelism(parallelism);
            let planned = Planner::new(&session, env.clone()).unwrap().query(&query).unwrap();
            let sink = CollectSink::new();
            let rows = sink.results();
            planned.stream.sink_to(sink);
            let job = env.execute("query").unwrap();
            let errors = job
                .vertices
                .iter()
                .filter(|v| v.name.starts_with("Source: "))
                .flat_map(|v| &v.subtasks)
                .map(|s| s.records_in_errors)
                .sum();
            let mut ids: Vec<String> = rows.take().iter().map(|r| format!("{:?}", r.values[0])).collect();
            ids.sort();
            result = Some((ids, errors));
        }
    }
    result.expect("a query")
}

#[test]
fn skipped_malformed_records_are_counted_in_num_records_in_errors() {
    let dir = std::env::temp_dir().join(format!("ff-sql-errors-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // Every seventh CSV line and every fifth JSON line is malformed; comments are not errors.
    let mut csv = String::from("# a comment\n");
    let mut json = String::new();
    let (mut good, mut bad_csv, mut bad_json) = (Vec::new(), 0, 0);
    for i in 0..500 {
        if i % 7 == 3 {
            csv.push_str(&format!("x{i},oops\n"));
            bad_csv += 1;
        } else {
            csv.push_str(&format!("{i},v{i}\n"));
            good.push(i);
        }
        if i % 5 == 1 {
            json.push_str(&format!("{{\"id\": {i}, \"s\": \n"));
            bad_json += 1;
        } else {
            json.push_str(&format!("{{\"id\": {i}, \"s\": \"v{i}\"}}\n"));
        }
    }
    std::fs::write(dir.join("data.csv"), csv).unwrap();
    std::fs::write(dir.join("data.json"), json).unwrap();
    let table = |name: &str, format: &str, extra: &str| {
        format!(
            "CREATE TABLE {name} (id INT, s STRING) WITH ('connector' = 'filesystem', 'path' = '{}', \
             'format' = '{format}', '{format}.ignore-parse-errors' = 'true'{extra});\n",
            dir.join(format!("data.{format}")).display()
        )
    };
    let csv_script = table("c", "csv", ", 'csv.allow-comments' = 'true'") + "SELECT id FROM c;";
    let json_script = table("j", "json", "") + "SELECT id FROM j;";
    let mut expected: Vec<String> = good.iter().map(|i| format!("Int({i})")).collect();
    expected.sort();
    for parallelism in [1, 3] {
        let (rows, errors) = run(&csv_script, parallelism);
        assert_eq!(rows, expected, "csv at parallelism {parallelism}");
        assert_eq!(errors, bad_csv, "csv at parallelism {parallelism}");
        let (rows, errors) = run(&json_script, parallelism);
        assert_eq!(rows.len(), 500 - bad_json as usize, "json at parallelism {parallelism}");
        assert_eq!(errors, bad_json, "json at parallelism {parallelism}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn compressed_files_in_a_directory_tree_are_read_with_the_plain_ones() {
    use std::io::Write;
    let dir = std::env::temp_dir().join(format!("ff-sql-compressed-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("day=1")).unwrap();
    let csv = |from: i32| (from..from + 300).map(|i| format!("{i},v{i}\n")).collect::<String>();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(csv(0).as_bytes()).unwrap();
    std::fs::write(dir.join("a.csv.gz"), gz.finish().unwrap()).unwrap();
    std::fs::write(dir.join("day=1/b.csv.zst"), zstd::stream::encode_all(csv(300).as_bytes(), 1).unwrap()).unwrap();
    std::fs::write(dir.join("day=1/c.csv"), csv(600)).unwrap();
    let script = format!(
        "CREATE TABLE f (id INT, s STRING) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');\n\
         SELECT id FROM f;",
        dir.display()
    );
    let mut expected: Vec<String> = (0..900).map(|i| format!("Int({i})")).collect();
    expected.sort();
    for parallelism in [1, 3] {
        let (rows, errors) = run(&script, parallelism);
        assert_eq!(rows, expected, "parallelism {parallelism}");
        assert_eq!(errors, 0);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
