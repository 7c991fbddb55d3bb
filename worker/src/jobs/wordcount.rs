//! `wordcount`: counts the words of a file or directory (bounded) and prints or writes
//! `word<TAB>count` lines when the input ends.

use super::{BuiltJob, Report, tokenize};
use crate::connectors::file::FileSink;
use crate::connectors::print::PrintSink;
use crate::datastream::window::assigner::GlobalWindows;
use crate::datastream::{Count, StreamExecutionEnvironment};
use crate::error::Result;
use std::path::PathBuf;

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
}

/// Builds the job.
pub fn build(env: StreamExecutionEnvironment, args: Args) -> Result<BuiltJob> {
    let counts = env
        .read_text_file(&args.input)
        .flat_map(|line: String| tokenize(&line))
        .name("Tokenizer")
        .key_by(|w: &String| w.clone())
        .window(GlobalWindows::create_with_end_of_stream_trigger())
        .aggregate_with(Count, |word: &String, _, n| (word.clone(), n))
        .name("Count");
    let line = |(w, n): &(String, u64)| format!("{w}\t{n}");
    match args.output {
        Some(dir) => counts.sink_to(FileSink::new(dir, line)).name("File Sink"),
        None => counts.sink_to(PrintSink::with_format(line).without_prefix()).name("Print"),
    };
    Ok(BuiltJob { env, name: "wordcount".into(), report: Report::None })
}
