//! `socket-window-wordcount`: Flink's classic example. Reads lines from a socket and prints word
//! counts per 5 s processing-time tumbling window (`nc -lk 9999` to feed it).

use super::{BuiltJob, Report, tokenize};
use crate::connectors::print::PrintSink;
use crate::datastream::window::assigner::TumblingProcessingTimeWindows;
use crate::datastream::{Count, StreamExecutionEnvironment};
use crate::error::Result;
use std::time::Duration;

/// Arguments of `ferroflink run socket-window-wordcount`.
#[derive(Debug, clap::Parser)]
#[command(name = "ferroflink run socket-window-wordcount")]
pub struct Args {
    /// Host to connect to.
    #[arg(long, default_value = "localhost")]
    pub host: String,
    /// Port to connect to.
    #[arg(long)]
    pub port: u16,
}

/// Builds the job.
pub fn build(env: StreamExecutionEnvironment, args: Args) -> Result<BuiltJob> {
    env.socket_text_stream(&args.host, args.port)
        .flat_map(|line: String| tokenize(&line))
        .name("Tokenizer")
        .key_by(|w: &String| w.clone())
        .window(TumblingProcessingTimeWindows::of(Duration::from_secs(5)))
        .aggregate_with(Count, |word: &String, _, n| (word.clone(), n))
        .name("Window Count")
        .sink_to(PrintSink::with_format(|(w, n): &(String, u64)| format!("{w} : {n}")))
        .name("Print")
        .set_parallelism(1);
    Ok(BuiltJob { env, name: "socket-window-wordcount".into(), report: Report::None })
}
