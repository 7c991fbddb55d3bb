//! `wordcount`: counts the words of a file or directory and prints or writes `word<TAB>count`
//! lines: once per word when the input ends, or, with `--discovery-interval` (Flink's WordCount
//! option), as a running count on every occurrence while the job watches the directory for new
//! files and appended lines.

use super::{BuiltJob, Report, tokenize};
use crate::connectors::file::FileSink;
use crate::connectors::print::PrintSink;
use crate::connectors::text_file::TextFileSource;
use crate::datastream::window::assigner::GlobalWindows;
use crate::datastream::{Count, StreamExecutionEnvironment};
use crate::error::Result;
use crate::runtime::watermark::WatermarkStrategy;
use std::path::PathBuf;
use std::time::Duration;

/// Arguments of `ferroflink run wordcount`.
#[derive(Debug, clap::Parser)]
#[command(name = "ferroflink run wordcount")]
pub struct Args {
    /// A text file or a directory of them.
    #[arg(long)]
    pub input: PathBuf,
    /// Directory (or `s3://bucket/prefix`) for exactly-once part files (default: print to
    /// standard output).
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Watch the input for new files and appended lines at this interval, e.g. `1s` (the job then
    /// runs until cancelled and emits running counts).
    #[arg(long, value_parser = crate::config::values::duration)]
    pub discovery_interval: Option<Duration>,
}

/// Builds the job.
pub fn build(env: StreamExecutionEnvironment, args: Args) -> Result<BuiltJob> {
    let counts = match args.discovery_interval {
        None => env
            .read_text_file(&args.input)
            .flat_map(|line: String| tokenize(&line))
            .name("Tokenizer")
            .key_by(|w: &String| w.clone())
            .window(GlobalWindows::create_with_end_of_stream_trigger())
            .aggregate_with(Count, |word: &String, _, n| (word.clone(), n)),
        Some(interval) => env
            .from_source(
                TextFileSource::new(args.input.clone()).monitor_continuously(interval),
                WatermarkStrategy::no_watermarks(),
                "Text File Source",
            )
            .flat_map(|line: String| tokenize(&line).into_iter().map(|w| (w, 1u64)).collect::<Vec<_>>())
            .name("Tokenizer")
            .key_by(|(w, _): &(String, u64)| w.clone())
            .reduce(|(w, a), (_, b)| (w, a + b)),
    }
    .name("Count");
    let line = |(w, n): &(String, u64)| format!("{w}\t{n}");
    match args.output {
        Some(dir) => counts.sink_to(FileSink::new(dir, line)).name("File Sink"),
        None => counts.sink_to(PrintSink::with_format(line).without_prefix()).name("Print"),
    };
    Ok(BuiltJob { env, name: "wordcount".into(), report: Report::None })
}
