//! The `ferroflink` command line.

use anyhow::Context;
use clap::{Parser, Subcommand};
use crossbeam_channel::Receiver;
use ferroflink::jobs::{self, Report};
use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Batches are allocated on one task thread and freed on another; mimalloc handles that
/// cross-thread pattern far better than glibc's malloc (see BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "ferroflink", version, about = "A Flink-style dataflow engine")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a built-in job on a local mini-cluster: `ferroflink run <job> [job args]`
    /// (`ferroflink run <job> --help` lists the job's arguments).
    #[command(disable_help_flag = true)]
    Run {
        /// The job (see `ferroflink jobs`).
        #[arg(allow_hyphen_values = true)]
        job: String,
        /// The job's arguments, e.g. `--input words.txt --parallelism 4`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// List the built-in jobs.
    Jobs,
    /// Measure Nexmark throughput per core (events ÷ process CPU seconds), one query after another.
    Bench {
        /// Queries to run; `generator` runs the source alone into a discarding sink.
        #[arg(long, value_delimiter = ',', default_value = "generator,q1,tumble-count,hop-count,q5,q7")]
        queries: Vec<String>,
        /// Events per query.
        #[arg(long, default_value_t = 10_000_000)]
        events: u64,
        /// Parallelism.
        #[arg(long, short = 'p', default_value_t = 1)]
        parallelism: usize,
        /// Also checkpoint every this long (into a fresh temporary directory) and report the
        /// checkpoint durations, to compare with a run without.
        #[arg(long, value_parser = humantime::parse_duration)]
        checkpoint_interval: Option<Duration>,
        /// More arguments for the Nexmark job, after `--` (e.g. `-- --state-backend rocksdb
        /// --in-flight-auctions 1000000`).
        #[arg(last = true)]
        job_args: Vec<String>,
    },
    /// Measure keyed state: `ValueState<u64>` read-modify-write per core, or (with
    /// `--incremental`) the bytes incremental checkpoints upload and the restore time.
    BenchState(ferroflink::state::bench::Args),
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "ferroflink=warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run { job, args } => run(&job, &args),
        Command::Bench { queries, events, parallelism, checkpoint_interval, job_args } => {
            bench(&queries, events, parallelism, checkpoint_interval, &job_args)
        }
        Command::BenchState(args) => ferroflink::state::bench::run(&args).map_err(Into::into),
        Command::Jobs => {
            for (name, what) in jobs::JOBS {
                println!("{name:<26}{what}");
            }
            Ok(())
        }
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(job: &str, args: &[String]) -> anyhow::Result<()> {
    if job == "--help" || job == "-h" {
        println!("Usage: ferroflink run <JOB> [JOB ARGS]...\n\nJobs:");
        for (name, what) in jobs::JOBS {
            println!("  {name:<26}{what}");
        }
        return Ok(());
    }
    if args.iter().any(|a| a == "--help" || a == "-h")
        && let Some(help) = jobs::help(job)
    {
        print!("{help}");
        return Ok(());
    }
    let built = jobs::build(job, args)?;
    let settings = built.env.execution_settings();
    if let Some(r) = &settings.restore {
        eprintln!("restoring {} from {}", built.name, r.path);
    }
    let started = Instant::now();
    let (handle, graph) =
        built.env.execute_async(&built.name).with_context(|| format!("cannot start {}", built.name))?;

    // Ctrl-C: stop with a savepoint when --savepoint-on-exit is given (a second Ctrl-C cancels),
    // otherwise cancel. SIGUSR1: a savepoint into --savepoint-dir while the job keeps running.
    let interrupts = Arc::new(AtomicUsize::new(0));
    let counter = interrupts.clone();
    ctrlc::set_handler(move || {
        counter.fetch_add(1, Ordering::SeqCst);
    })
    .context("installing the Ctrl-C handler")?;
    let usr1 = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGUSR1, usr1.clone())
        .context("installing the SIGUSR1 handler")?;
    let canceller = handle.canceller();
    let stop_dir = settings.checkpoint.final_savepoint_dir.clone();
    let mut stopping: Option<Receiver<ferroflink::Result<String>>> = None;
    let mut savepoints: Vec<Receiver<ferroflink::Result<String>>> = Vec::new();

    // A progress line every 5 s on long runs.
    let mut last = (Instant::now(), 0u64, 0u64);
    while !handle.is_finished() {
        std::thread::sleep(Duration::from_millis(100));
        match (interrupts.load(Ordering::SeqCst), &stop_dir) {
            (0, _) => {}
            (1, Some(dir)) if stopping.is_none() => {
                eprintln!("stopping {} with a savepoint into {dir} (Ctrl-C again cancels)", built.name);
                let rx = handle.savepoint(dir, true);
                savepoints.push(rx.clone());
                stopping = Some(rx);
            }
            (1, Some(_)) => {}
            _ => canceller.cancel(),
        }
        if usr1.swap(false, Ordering::SeqCst) {
            match &settings.checkpoint.savepoint_dir {
                Some(dir) => savepoints.push(handle.savepoint(dir, false)),
                None => eprintln!("SIGUSR1: no --savepoint-dir was given, so no savepoint is taken"),
            }
        }
        savepoints.retain(|rx| match rx.try_recv() {
            Ok(Ok(location)) => {
                eprintln!("savepoint written: {location}");
                false
            }
            Ok(Err(e)) => {
                eprintln!("savepoint failed: {e}");
                if stopping.as_ref().is_some_and(|s| s.same_channel(rx)) {
                    eprintln!("cancelling {} instead", built.name);
                    canceller.cancel();
                }
                false
            }
            Err(_) => true,
        });
        if last.0.elapsed() >= Duration::from_secs(5) {
            let (read, written) = handle.progress();
            let secs = last.0.elapsed().as_secs_f64();
            eprintln!(
                "progress: {:.0} records/s in, {:.0} records/s out ({read} in, {written} out in {:.0} s)",
                read.saturating_sub(last.1) as f64 / secs,
                written.saturating_sub(last.2) as f64 / secs,
                started.elapsed().as_secs_f64()
            );
            last = (Instant::now(), read, written);
        }
    }
    let result = handle.wait().with_context(|| format!("{} failed", built.name))?;
    let elapsed = started.elapsed();
    if result.cancelled {
        eprintln!("{} cancelled after {:.1} s", built.name, elapsed.as_secs_f64());
    }
    if let Some(location) = &result.savepoint
        && stopping.is_none()
    {
        eprintln!("savepoint written: {location}");
    }
    if !result.checkpoints.is_empty() || result.restarts > 0 {
        let pct = durations_ms(&result.checkpoints);
        eprintln!(
            "job {}: {} checkpoints completed (duration p50 {:.1} ms, p99 {:.1} ms, largest {} bytes), {} failed, \
             {} restarts",
            result.job_id,
            result.checkpoints.len(),
            pct.0,
            pct.1,
            result.checkpoints.iter().map(|c| c.bytes).max().unwrap_or(0),
            result.failed_checkpoints,
            result.restarts
        );
    }
    if let Report::Summary { title, events, checksum } = built.report {
        let processed = result.source_records(&graph);
        // A restored or restarted run reads only what comes after its checkpoint.
        let whole_run = result.restored_from.is_none() && result.restarts == 0 && !result.cancelled;
        if let Some(expected) = events
            && whole_run
            && processed != expected
        {
            anyhow::bail!("{title}: read {processed} events but {expected} were generated");
        }
        println!(
            "{title}: {processed} events in {:.3} s ({:.0} events/s), {} results, checksum {:016x}",
            elapsed.as_secs_f64(),
            processed as f64 / elapsed.as_secs_f64(),
            checksum.count(),
            checksum.value()
        );
    }
    Ok(())
}

fn bench(
    queries: &[String],
    events: u64,
    parallelism: usize,
    checkpoints: Option<Duration>,
    job_args: &[String],
) -> anyhow::Result<()> {
    println!(
        "{:<14}{:>12}{:>10}{:>10}{:>16}{:>14}{:>24}",
        "query", "events", "wall s", "cpu s", "events/s/core", "events/s", "checkpoints (p50/p99 ms)"
    );
    for query in queries {
        let (env, name) = if query == "generator" {
            let env = ferroflink::api::StreamExecutionEnvironment::new();
            env.set_parallelism(parallelism);
            let config = ferroflink::connectors::nexmark::NexmarkConfig::default();
            jobs::nexmark::events(&env, config, Some(events), None)
                .sink_to(ferroflink::connectors::discard::DiscardSink)
                .name("Discard");
            (env, "nexmark generator".to_string())
        } else {
            let mut args: Vec<String> =
                ["--query", query, "--events", &events.to_string(), "--parallelism", &parallelism.to_string()]
                    .iter()
                    .map(|s| s.to_string())
                    .collect();
            args.extend(job_args.iter().cloned());
            let built = jobs::build("nexmark", &args)?;
            (built.env, built.name)
        };
        let dir = std::env::temp_dir().join(format!("ferroflink-bench-{}", std::process::id()));
        if let Some(interval) = checkpoints {
            env.enable_checkpointing(interval, &dir.to_string_lossy());
        }
        let cpu = cpu_time::ProcessTime::now();
        let wall = Instant::now();
        let result = env.execute(&name).with_context(|| format!("{name} failed"))?;
        let (cpu, wall) = (cpu.elapsed().as_secs_f64(), wall.elapsed().as_secs_f64());
        let _ = std::fs::remove_dir_all(&dir);
        let pct = durations_ms(&result.checkpoints);
        let checkpoint_column = if result.checkpoints.is_empty() {
            "-".to_string()
        } else {
            format!("{} ({:.1}/{:.1})", result.checkpoints.len(), pct.0, pct.1)
        };
        println!(
            "{query:<14}{events:>12}{wall:>10.2}{cpu:>10.2}{:>16.0}{:>14.0}{checkpoint_column:>24}",
            events as f64 / cpu,
            events as f64 / wall
        );
    }
    Ok(())
}

/// Median and 99th percentile of checkpoint durations, in milliseconds (zero when there are none).
fn durations_ms(checkpoints: &[ferroflink::checkpoint::coordinator::CompletedCheckpoint]) -> (f64, f64) {
    let mut ms: Vec<f64> = checkpoints.iter().map(|c| c.duration.as_secs_f64() * 1e3).collect();
    ms.sort_by(f64::total_cmp);
    let pct = |p: f64| ms.get(((ms.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or(0.0);
    (pct(0.5), pct(0.99))
}
