//! The `ferroflink` command line, for the built-in jobs and a user's own: a binary calls [`main`]
//! with its [`Registry`] and gets every command (run, sql, jobs, bench, jobmanager, taskmanager, submit,
//! list, cancel, savepoint, stop, probe) for the jobs registered there.

use crate::cluster::client::RestClient;
use crate::cluster::jobmanager::JobManager;
use crate::config::{Config, ConfigLoader};
pub use crate::jobs::Registry;
use crate::jobs::{self, BuiltJob, JobFlags, Report};
use crate::spec::Overrides;
use anyhow::Context;
use clap::{Args as _, Parser, Subcommand};
use crossbeam_channel::Receiver;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(name = "ferroflink", version, about = "A Flink-style dataflow engine")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a job on a local mini-cluster: `ferroflink run <job> [job args] [job settings]`
    /// (`ferroflink run <job> --help` lists both; `--config <file>`, `--task-managers N`,
    /// `--slots N` and `--savepoint-on-exit <dir>` shape the local run).
    #[command(disable_help_flag = true)]
    Run {
        /// The job (see `ferroflink jobs`).
        #[arg(allow_hyphen_values = true)]
        job: String,
        /// The job's arguments and settings, e.g. `--input words.txt --parallelism 4`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Run a Flink SQL script on a local mini-cluster: `ferroflink sql -f script.sql` (or `-e
    /// "..."`) with the job settings every job takes; a query's rows go to standard output.
    Sql(Box<crate::sql_client::SqlArgs>),
    /// List the jobs this binary knows.
    Jobs,
    /// Measure Nexmark throughput per core (events ÷ process CPU seconds), one query after another:
    /// the DataStream versions, or (with `--sql <dir>`) the nexmark repository's SQL queries.
    Bench {
        /// Queries to run; `generator` runs the source alone into a discarding sink. Default:
        /// generator,q1,tumble-count,hop-count,q5,q7; with `--sql`, q0 to q22 but q6 and q13.
        #[arg(long, value_delimiter = ',')]
        queries: Option<Vec<String>>,
        /// Run the SQL queries of the nexmark repository's query directory
        /// (`nexmark-flink/src/main/resources/queries` of a checkout): its `ddl_gen.sql` (our
        /// `nexmark` connector takes its table and options), `ddl_views.sql`, then `<query>.sql`,
        /// with its variables (`${TPS}`, `${EVENTS_NUM}`, ...) set as its runner sets them.
        #[arg(long, value_name = "DIR")]
        sql: Option<PathBuf>,
        /// With `--sql`: events per second of event time (the repository's TPS; at most this many a
        /// second of wall time, too).
        #[arg(long, default_value_t = 10_000_000)]
        tps: u64,
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
        /// More arguments and settings for the Nexmark job, after `--` (e.g. `-- --state-backend
        /// rocksdb --in-flight-auctions 1000000`).
        #[arg(last = true)]
        job_args: Vec<String>,
    },
    /// Measure keyed state: `ValueState<u64>` read-modify-write per core, or (with
    /// `--incremental`) the bytes incremental checkpoints upload and the restore time.
    BenchState(crate::state_bench::Args),
    /// Run a JobManager: the REST API and web UI, the slot pool, and the jobs submitted to it (or
    /// the one given with `--job`).
    Jobmanager(JobManagerArgs),
    /// Run a TaskManager: registers its slots with the JobManager and runs the tasks it deploys.
    Taskmanager(TaskManagerArgs),
    /// Submit a job to a running JobManager (whose binary knows it); prints the job id. Settings
    /// not given (`-p`, `-D key=value`, ...) come from the JobManager's configuration.
    Submit {
        #[command(flatten)]
        rest: RestArgs,
        /// The job (see `ferroflink jobs`).
        job: String,
        /// The job's arguments and settings.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Check that a TaskManager on this host is healthy (`/healthz` answers 200): exit 0 if so, 1
    /// with the reason if not. For Kubernetes exec probes under `hostNetwork`, where the port is the
    /// one the TaskManager found free.
    Probe {
        /// The file the TaskManager wrote its metrics port to (`--metrics-port-file`).
        #[arg(long)]
        port_file: PathBuf,
    },
    /// List the jobs of a running JobManager.
    List {
        #[command(flatten)]
        rest: RestArgs,
    },
    /// Cancel a job.
    Cancel {
        #[command(flatten)]
        rest: RestArgs,
        /// The job id.
        id: String,
    },
    /// Take a savepoint of a running job; prints its location.
    Savepoint {
        #[command(flatten)]
        rest: RestArgs,
        /// The job id.
        id: String,
        /// Where the savepoint goes (default: the JobManager's `savepoints.dir`).
        target: Option<String>,
    },
    /// Stop a job with a savepoint; prints its location.
    Stop {
        #[command(flatten)]
        rest: RestArgs,
        /// The job id.
        id: String,
        /// Where the savepoint goes (default: the JobManager's `savepoints.dir`).
        #[arg(long)]
        savepoint: Option<String>,
    },
}

#[derive(clap::Args)]
struct RestArgs {
    /// The JobManager's REST address.
    #[arg(long, default_value = "http://localhost:8081")]
    jobmanager: String,
}

#[derive(clap::Args)]
struct JobManagerArgs {
    /// Configuration file (YAML; see the configuration reference).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Address the RPC and REST servers listen on (`rpc.bind`, `rest.bind`).
    #[arg(long)]
    bind: Option<String>,
    /// RPC port TaskManagers connect to (`rpc.port`, default 6123; 0 picks one).
    #[arg(long)]
    rpc_port: Option<u16>,
    /// REST API and web UI port (`rest.port`, default 8081; 0 picks one).
    #[arg(long)]
    rest_port: Option<u16>,
    /// The address TaskManagers and standbys reach this JobManager at (`rpc.advertised-address`).
    #[arg(long)]
    advertised_address: Option<String>,
    /// High availability: `none`, `file:<dir>` or `kubernetes` (`ha.mode`, `ha.dir`).
    #[arg(long)]
    ha: Option<String>,
    /// Checkpoint storage (`checkpointing.dir`).
    #[arg(long)]
    checkpoint_dir: Option<String>,
    /// The job's id (`job.id`).
    #[arg(long)]
    job_id: Option<String>,
    /// Start the job from this checkpoint or savepoint.
    #[arg(long)]
    restore: Option<String>,
    /// `no-claim` or `claim`.
    #[arg(long, requires = "restore")]
    restore_mode: Option<String>,
    /// Drop restored state the job no longer has.
    #[arg(long, requires = "restore")]
    allow_non_restored_state: bool,
    /// Run this job with these arguments and settings (application mode); must come last.
    #[arg(long, num_args = 1.., allow_hyphen_values = true, value_name = "JOB [ARGS]")]
    job: Vec<String>,
    /// Run the one job (an INSERT or a statement set) of this SQL script (application mode).
    #[arg(long, conflicts_with = "job", value_name = "FILE")]
    sql: Option<PathBuf>,
}

#[derive(clap::Args)]
struct TaskManagerArgs {
    /// Configuration file (YAML; see the configuration reference).
    #[arg(long)]
    config: Option<PathBuf>,
    /// The JobManager's RPC address, `host:port` (`jobmanager.address`; default: Flink's
    /// `jobmanager.rpc.address`:`jobmanager.rpc.port`, else localhost:6123).
    #[arg(long)]
    jobmanager_address: Option<String>,
    /// Task slots (`taskmanager.slots`, Flink's `taskmanager.numberOfTaskSlots`; default 1).
    #[arg(long)]
    slots: Option<usize>,
    /// Address the data plane and metrics servers listen on (`data.bind`, `metrics.bind`).
    #[arg(long)]
    bind: Option<String>,
    /// Data port (`data.port`; 0 picks one).
    #[arg(long)]
    data_port: Option<u16>,
    /// Port or range of `/metrics`, `/healthz`, `/readyz` (`metrics.port`; default: the first free
    /// of 9249-9260, else any free port).
    #[arg(long)]
    metrics_port: Option<String>,
    /// Write the metrics port taken to this file (`metrics.port-file`; `ferroflink probe` reads it).
    #[arg(long)]
    metrics_port_file: Option<String>,
    /// The address other processes reach this one at (`data.advertised-address`).
    #[arg(long)]
    advertised_address: Option<String>,
    /// Memory budget in bytes or with a unit (`taskmanager.memory`; default: the cgroup limit).
    #[arg(long)]
    memory: Option<String>,
    /// High availability: `none`, `file:<dir>` or `kubernetes` (`ha.mode`, `ha.dir`).
    #[arg(long)]
    ha: Option<String>,
}

/// Reads the configuration layers: file, environment (`FLINK_PROPERTIES`, `FERROFLINK__*`), then
/// the command line: `settings` (a job's flags and `-D`, by any name) and `flags` (our key, value);
/// logs a warning for each Flink key it ignores.
pub(crate) fn load_config(
    file: Option<&std::path::Path>,
    settings: Overrides,
    flags: Vec<(&str, Option<Value>)>,
) -> anyhow::Result<Config> {
    let mut loader = ConfigLoader::new();
    if let Some(f) = file {
        loader = loader.file(f)?;
    }
    let mut loader = loader.env()?.command_line(settings)?;
    for (key, value) in flags {
        if let Some(v) = value {
            loader.set(key, v);
        }
    }
    for warning in loader.warnings() {
        tracing::warn!("{warning}");
    }
    Ok(loader.load()?)
}

/// The `ha.mode` and `ha.dir` of an `--ha` flag.
fn ha_flags(ha: Option<&str>) -> anyhow::Result<(Option<Value>, Option<Value>)> {
    Ok(match ha {
        None => (None, None),
        Some("none") => (Some("none".into()), None),
        Some("kubernetes") => (Some("kubernetes".into()), None),
        Some(other) => match other.strip_prefix("file:") {
            Some(dir) if !dir.is_empty() => (Some("file".into()), Some(dir.into())),
            _ => anyhow::bail!("--ha takes none, file:<dir> or kubernetes, not '{other}'"),
        },
    })
}

fn jobmanager(args: JobManagerArgs, registry: Arc<Registry>) -> anyhow::Result<()> {
    let (ha_mode, ha_dir) = ha_flags(args.ha.as_deref())?;
    let sql = match &args.sql {
        Some(path) => Some(std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?),
        None => None,
    };
    let name = args.job.first().cloned();
    let (job_flags, job_args) = match name {
        Some(_) => {
            let (flags, rest) = JobFlags::split(&args.job[1..])?;
            (flags.overrides(), Some(rest))
        }
        None => Default::default(),
    };
    let config = load_config(
        args.config.as_deref(),
        job_flags,
        vec![
            ("rpc.bind", args.bind.clone().map(Into::into)),
            ("rest.bind", args.bind.map(Into::into)),
            ("rpc.port", args.rpc_port.map(Into::into)),
            ("rest.port", args.rest_port.map(Into::into)),
            ("rpc.advertised-address", args.advertised_address.map(Into::into)),
            ("ha.mode", ha_mode),
            ("ha.dir", ha_dir),
            ("checkpointing.dir", args.checkpoint_dir.map(Into::into)),
            ("job.id", args.job_id.map(Into::into)),
            ("job.name", name.map(Into::into)),
            ("job.args", job_args.map(Into::into)),
            ("job.sql", sql.map(Into::into)),
            ("restore.path", args.restore.map(Into::into)),
            ("restore.mode", args.restore_mode.map(Into::into)),
            ("restore.allow-non-restored-state", args.allow_non_restored_state.then_some(true.into())),
        ],
    )?;
    if let Some(script) = &config.job.sql {
        let what = args.sql.as_ref().map_or("job.sql".to_string(), |path| path.display().to_string());
        match crate::sql_client::count_jobs(script) {
            Ok(1) => {}
            Ok(n) => anyhow::bail!(
                "{what}: application mode runs one job, and the script has {n} (INSERT INTO or statement sets): put \
                 its INSERTs in one EXECUTE STATEMENT SET, or submit them to a session cluster with \
                 `ferroflink sql -f <script> --jobmanager <url>`"
            ),
            Err(e) => anyhow::bail!("{what}: {e}"),
        }
    }
    if config.restore.path.is_some() && config.job.name.is_none() && config.job.sql.is_none() {
        anyhow::bail!(
            "--restore (restore.path, Flink's execution.state-recovery.path) needs a job: give --job <name> \
             [args], --sql <file>, job.name or job.sql; it restores the job the JobManager starts"
        );
    }
    let jm = JobManager::start(config, registry)?;
    for job in jm.cluster().jobs() {
        eprintln!("running job {} ({})", job.id, job.name);
    }
    eprintln!("JobManager: RPC on {}, REST API and web UI on http://{}", jm.rpc_addr(), jm.rest_addr());
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst)).context("installing the Ctrl-C handler")?;
    while !stop.load(Ordering::SeqCst) {
        if jm.cluster().is_deposed() {
            jm.shutdown();
            anyhow::bail!(
                "this JobManager lost its leadership to another one and stopped its jobs; start it again to \
                 stand by"
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("JobManager stopping");
    jm.shutdown();
    Ok(())
}

fn taskmanager(args: TaskManagerArgs, registry: Arc<Registry>) -> anyhow::Result<()> {
    let (ha_mode, ha_dir) = ha_flags(args.ha.as_deref())?;
    let config = load_config(
        args.config.as_deref(),
        Overrides::new(),
        vec![
            ("jobmanager.address", args.jobmanager_address.map(Into::into)),
            ("taskmanager.slots", args.slots.map(Into::into)),
            ("taskmanager.memory", args.memory.map(Into::into)),
            ("data.bind", args.bind.clone().map(Into::into)),
            ("metrics.bind", args.bind.map(Into::into)),
            ("data.port", args.data_port.map(Into::into)),
            ("metrics.port", args.metrics_port.map(Into::into)),
            ("metrics.port-file", args.metrics_port_file.map(Into::into)),
            ("data.advertised-address", args.advertised_address.map(Into::into)),
            ("ha.mode", ha_mode),
            ("ha.dir", ha_dir),
        ],
    )?;
    crate::cluster::taskmanager::run(config, registry)?;
    Ok(())
}

/// Runs the command line with the jobs of `registry` (for the built-in jobs,
/// [`Registry::with_builtins`]); exits the process with 1 and a one-line reason on failure.
pub fn main(registry: Registry) {
    let registry = Arc::new(registry);
    let cli = Cli::parse();
    let service = match &cli.command {
        Command::Jobmanager(_) => "ferroflink-jobmanager",
        Command::Taskmanager(_) => "ferroflink-taskmanager",
        _ => "ferroflink",
    };
    let telemetry = ferroflink_telemetry::init(service, "ferroflink=warn", "ferroflink=info");
    let result = match cli.command {
        Command::Run { job, args } => run(&registry, &job, &args),
        Command::Sql(args) => crate::sql_client::run(*args, &registry),
        Command::Bench { queries, events, parallelism, checkpoint_interval, sql, tps, job_args } => {
            let source = match sql {
                Some(dir) => BenchSource::Sql { dir, tps },
                None => BenchSource::DataStream { job_args },
            };
            bench(&registry, queries, events, parallelism, checkpoint_interval, &source)
        }
        Command::BenchState(args) => crate::state_bench::run(&args).map_err(Into::into),
        Command::Jobmanager(args) => jobmanager(args, registry.clone()),
        Command::Taskmanager(args) => taskmanager(args, registry.clone()),
        Command::Submit { rest, job, args } => JobFlags::submission(&job, &args)
            .and_then(|s| RestClient::new(&rest.jobmanager).submit(&s))
            .map(|id| println!("{id}"))
            .map_err(Into::into),
        Command::Probe { port_file } => probe(&port_file),
        Command::List { rest } => RestClient::new(&rest.jobmanager)
            .list()
            .map(|jobs| {
                for (id, status, name) in jobs {
                    println!("{id}  {status:<11} {name}");
                }
            })
            .map_err(Into::into),
        Command::Cancel { rest, id } => RestClient::new(&rest.jobmanager).cancel(&id).map_err(Into::into),
        Command::Savepoint { rest, id, target } => RestClient::new(&rest.jobmanager)
            .savepoint(&id, target.as_deref(), false, Duration::from_secs(600))
            .map(|location| println!("{location}"))
            .map_err(Into::into),
        Command::Stop { rest, id, savepoint } => RestClient::new(&rest.jobmanager)
            .savepoint(&id, savepoint.as_deref(), true, Duration::from_secs(600))
            .map(|location| println!("{location}"))
            .map_err(Into::into),
        Command::Jobs => {
            for (name, what) in registry.jobs() {
                println!("{name:<26}{what}");
            }
            Ok(())
        }
    };
    // Exports the spans not sent yet before the process exits.
    drop(telemetry);
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn probe(port_file: &std::path::Path) -> anyhow::Result<()> {
    let port = std::fs::read_to_string(port_file)
        .with_context(|| format!("the TaskManager has not written its metrics port to {} yet", port_file.display()))?;
    let url = format!("http://127.0.0.1:{}/healthz", port.trim());
    let agent: ureq::Agent = ureq::Agent::config_builder().timeout_global(Some(Duration::from_secs(1))).build().into();
    agent.get(&url).call().with_context(|| format!("{url} does not answer 200"))?;
    Ok(())
}

/// How `ferroflink run` shapes its local mini-cluster (flags among the job's arguments).
#[derive(clap::Args)]
#[command(next_help_heading = "Local run")]
pub(crate) struct LocalFlags {
    /// Configuration file (YAML): the job settings of its job sections apply.
    #[arg(long)]
    pub(crate) config: Option<PathBuf>,
    /// Task managers of the local cluster.
    #[arg(long, default_value_t = 1)]
    pub(crate) task_managers: usize,
    /// Slots per task manager of the local cluster (default: as many as the job needs).
    #[arg(long)]
    pub(crate) slots: Option<usize>,
    /// Take a savepoint here when the job ends or is stopped with Ctrl-C (stop-with-savepoint).
    #[arg(long)]
    pub(crate) savepoint_on_exit: Option<String>,
}

fn run(registry: &Registry, job: &str, args: &[String]) -> anyhow::Result<()> {
    if job == "--help" || job == "-h" {
        println!("Usage: ferroflink run <JOB> [JOB ARGS]... [JOB SETTINGS]...\n\nJobs:");
        for (name, what) in registry.jobs() {
            println!("  {name:<26}{what}");
        }
        return Ok(());
    }
    if args.iter().any(|a| a == "--help" || a == "-h")
        && let Some(help) = registry.help(job)
    {
        print!("{}", LocalFlags::augment_args(help).render_help());
        return Ok(());
    }
    let (local, args) = jobs::take_flags::<LocalFlags>(args)?;
    let config = load_config(local.config.as_deref(), Overrides::new(), Vec::new())?;
    let built = registry.build(&JobFlags::spec(job, &args, &config)?)?;
    execute_local(built, &local, &Interrupts::install()?)
}

/// Ctrl-C and SIGUSR1 as flags the local run loop reads (installed once per process).
pub(crate) struct Interrupts {
    ctrl_c: Arc<AtomicUsize>,
    usr1: Arc<AtomicBool>,
}

impl Interrupts {
    pub(crate) fn install() -> anyhow::Result<Interrupts> {
        let ctrl_c = Arc::new(AtomicUsize::new(0));
        let counter = ctrl_c.clone();
        ctrlc::set_handler(move || {
            counter.fetch_add(1, Ordering::SeqCst);
        })
        .context("installing the Ctrl-C handler")?;
        let usr1 = Arc::new(AtomicBool::new(false));
        signal_hook::flag::register(signal_hook::consts::SIGUSR1, usr1.clone())
            .context("installing the SIGUSR1 handler")?;
        Ok(Interrupts { ctrl_c, usr1 })
    }
}

/// Runs a built job on the local mini-cluster `local` describes, until it ends: Ctrl-C stops it
/// (with a savepoint under `--savepoint-on-exit`), SIGUSR1 takes a savepoint, a progress line
/// every 5 s; reports its checkpoints and its summary at the end.
pub(crate) fn execute_local(built: BuiltJob, local: &LocalFlags, signals: &Interrupts) -> anyhow::Result<()> {
    built.env.set_cluster(local.task_managers, local.slots);
    if let Some(dir) = &local.savepoint_on_exit {
        built.env.configure_checkpoints(|c| {
            c.final_savepoint_dir = Some(dir.clone());
            c.savepoint_dir.get_or_insert_with(|| dir.clone());
        });
    }
    let settings = built.env.execution_settings();
    if let Some(r) = &settings.restore {
        eprintln!("restoring {} from {}", built.name, r.path);
    }
    let started = Instant::now();
    let (handle, graph) =
        built.env.execute_async(&built.name).with_context(|| format!("cannot start {}", built.name))?;

    // Ctrl-C: stop with a savepoint when --savepoint-on-exit is given (a second Ctrl-C cancels),
    // otherwise cancel. SIGUSR1: a savepoint into --savepoint-dir while the job keeps running.
    let (interrupts, usr1) = (&signals.ctrl_c, &signals.usr1);
    interrupts.store(0, Ordering::SeqCst);
    let canceller = handle.canceller();
    let stop_dir = settings.checkpoint.final_savepoint_dir.clone();
    let mut stopping: Option<Receiver<crate::Result<String>>> = None;
    let mut savepoints: Vec<Receiver<crate::Result<String>>> = Vec::new();

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
    let skipped: u64 = result.vertices.iter().flat_map(|v| &v.subtasks).map(|s| s.records_in_errors).sum();
    if skipped > 0 {
        eprintln!("job {}: {skipped} malformed records skipped (numRecordsInErrors)", result.job_id);
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

/// What `ferroflink bench` runs: the DataStream versions of the queries (with more arguments for
/// the Nexmark job), or the nexmark repository's SQL in directory `dir` at `tps` events a second.
enum BenchSource {
    DataStream { job_args: Vec<String> },
    Sql { dir: PathBuf, tps: u64 },
}

/// The Nexmark queries in SQL that `ferroflink bench --sql` runs by default: the repository's q0
/// to q22 but q6 (which Flink cannot run) and q13 (a lookup join of a side input).
const SQL_QUERIES: &str = "q0,q1,q2,q3,q4,q5,q7,q8,q9,q10,q11,q12,q14,q15,q16,q17,q18,q19,q20,q21,q22";

/// The script of Nexmark `query` in SQL from the repository's query directory `dir`: its table
/// (`ddl_gen.sql`), views and query, with the variables its runner sets (`${TPS}`, ...) and the
/// parallelism set; `q10`'s files go under `out`.
fn nexmark_sql(
    dir: &std::path::Path,
    query: &str,
    events: u64,
    tps: u64,
    parallelism: usize,
    out: &str,
) -> anyhow::Result<String> {
    let read = |name: &str| {
        let path = dir.join(name);
        std::fs::read_to_string(&path).with_context(|| {
            format!(
                "reading {} (--sql is the nexmark repository's nexmark-flink/src/main/resources/queries)",
                path.display()
            )
        })
    };
    let mut script = format!("SET 'parallelism.default' = '{parallelism}';\n");
    for name in ["ddl_gen.sql", "ddl_views.sql", &format!("{query}.sql")] {
        script.push_str(&read(name)?);
        script.push('\n');
    }
    let variables = [
        ("NEXMARK_TABLE", "datagen".to_string()),
        ("TPS", tps.to_string()),
        ("EVENTS_NUM", events.to_string()),
        ("PERSON_PROPORTION", "1".to_string()),
        ("AUCTION_PROPORTION", "3".to_string()),
        ("BID_PROPORTION", "46".to_string()),
        ("NEXMARK_DIR", out.to_string()),
        ("SUBMIT_TIME", "bench".to_string()),
    ];
    for (name, value) in variables {
        script = script.replace(&format!("${{{name}}}"), &value);
    }
    Ok(script)
}

fn bench(
    registry: &Registry,
    queries: Option<Vec<String>>,
    events: u64,
    parallelism: usize,
    checkpoints: Option<Duration>,
    source: &BenchSource,
) -> anyhow::Result<()> {
    let queries = queries.unwrap_or_else(|| {
        let default = match source {
            BenchSource::DataStream { .. } => "generator,q1,tumble-count,hop-count,q5,q7",
            BenchSource::Sql { .. } => SQL_QUERIES,
        };
        default.split(',').map(str::to_string).collect()
    });
    println!(
        "{:<14}{:>12}{:>10}{:>10}{:>16}{:>14}{:>24}",
        "query", "events", "wall s", "cpu s", "events/s/core", "events/s", "checkpoints (p50/p99 ms)"
    );
    for query in &queries {
        let dir = std::env::temp_dir().join(format!("ferroflink-bench-{}", std::process::id()));
        let (env, name) = match source {
            _ if query == "generator" => {
                let env = crate::datastream::StreamExecutionEnvironment::new();
                env.set_parallelism(parallelism);
                let config = crate::connectors::nexmark::NexmarkConfig::default();
                jobs::nexmark::events(&env, config, Some(events), None)
                    .sink_to(crate::connectors::discard::DiscardSink)
                    .name("Discard");
                (env, "nexmark generator".to_string())
            }
            BenchSource::DataStream { job_args } => {
                let mut args: Vec<String> =
                    ["--query", query, "--events", &events.to_string(), "--parallelism", &parallelism.to_string()]
                        .iter()
                        .map(|s| s.to_string())
                        .collect();
                args.extend(job_args.iter().cloned());
                let built = registry.build(&JobFlags::spec("nexmark", &args, &Config::default())?)?;
                (built.env, built.name)
            }
            BenchSource::Sql { dir: queries, tps } => {
                let out = dir.join("output");
                let script = nexmark_sql(queries, query, events, *tps, parallelism, &out.to_string_lossy())?;
                let settings = crate::spec::JobSettings::from_config(&Config::default());
                let built = crate::sql_client::plan_sql(&script, 0, &settings, registry)
                    .with_context(|| format!("Nexmark {query} in SQL"))?;
                (built.env, format!("nexmark-sql-{query}"))
            }
        };
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
fn durations_ms(checkpoints: &[crate::runtime::checkpoint::coordinator::CompletedCheckpoint]) -> (f64, f64) {
    let mut ms: Vec<f64> = checkpoints.iter().map(|c| c.duration.as_secs_f64() * 1e3).collect();
    ms.sort_by(f64::total_cmp);
    let pct = |p: f64| ms.get(((ms.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or(0.0);
    (pct(0.5), pct(0.99))
}
