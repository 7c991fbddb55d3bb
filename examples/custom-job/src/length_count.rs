//! `length-count`: reads a text file or directory (bounded), splits it into words as `wordcount`
//! does, and when the input ends emits `<word length><TAB><number of words of that length>`, one
//! line per length: on standard output, or with `--output <dir>` as exactly-once part files.
//!
//! The count per length is keyed state (a `ValueState`), not a window: each key registers an
//! event-time timer at the end of time, which fires when the input ends (the final watermark).

use ferroflink::connectors::file::FileSink;
use ferroflink::connectors::print::PrintSink;
use ferroflink::jobs::{BuiltJob, Report, tokenize};
use ferroflink::prelude::*;
use ferroflink::runtime::context::RuntimeContext;
use ferroflink::state::{StateDescriptor, ValueState};
use std::path::PathBuf;

/// The job's own arguments; the flags every job takes (`-p`, `--checkpoint-interval`, ...) are the
/// command line's and come to `build` as its environment's settings.
#[derive(Debug, clap::Parser)]
#[command(name = "length-count")]
pub struct Args {
    /// A text file or a directory of them.
    #[arg(long)]
    input: PathBuf,
    /// Directory (or `s3://bucket/prefix`) for exactly-once part files (default: standard output).
    #[arg(long)]
    output: Option<PathBuf>,
}

/// Builds the job into `env` (configured with the job's settings); every process of a cluster
/// builds it from the same spec.
pub fn build(env: StreamExecutionEnvironment, args: Args) -> ferroflink::Result<BuiltJob> {
    let counts = env
        .read_text_file(&args.input)
        .flat_map(|line: String| tokenize(&line).into_iter().map(|w| w.len() as u64).collect::<Vec<_>>())
        .name("Word lengths")
        .key_by(|length: &u64| *length)
        .process(CountAtEnd)
        .uid("count-by-length")
        .name("Count");
    let line = |(length, n): &(u64, u64)| format!("{length}\t{n}");
    match args.output {
        Some(dir) => counts.sink_to(FileSink::new(dir, line)).name("File Sink"),
        None => counts.sink_to(PrintSink::with_format(line).without_prefix()).name("Print"),
    };
    Ok(BuiltJob { env, name: "length-count".into(), report: Report::None })
}

/// Counts the words of its key's length; emits the count when the input ends.
#[derive(Clone)]
struct CountAtEnd;

impl KeyedProcessFunction<u64, u64, (u64, u64)> for CountAtEnd {
    type State = ValueState<u64, u64>;

    fn open(&mut self, ctx: &mut RuntimeContext) -> ferroflink::Result<Self::State> {
        ctx.state.value_state(&StateDescriptor::new("count"))
    }

    fn process_element(
        &mut self,
        count: &mut Self::State,
        _length: u64,
        ctx: &mut KeyedContext<'_, u64, (u64, u64)>,
    ) -> ferroflink::Result<()> {
        let n = count.get(ctx.key())?.unwrap_or(0);
        if n == 0 {
            // The end of time: reached when the input ends.
            ctx.register_event_time_timer(i64::MAX)?;
        }
        count.put(ctx.key(), n + 1)
    }

    fn on_timer(
        &mut self,
        count: &mut Self::State,
        _at: Timestamp,
        ctx: &mut KeyedContext<'_, u64, (u64, u64)>,
    ) -> ferroflink::Result<()> {
        if let Some(n) = count.get(ctx.key())? {
            ctx.collect((*ctx.key(), n));
        }
        Ok(())
    }
}
