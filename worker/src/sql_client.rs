//! `ferroflink sql`, the SQL client: runs a script's statements in order on the local
//! mini-cluster. DDL and `SET` change the session; each `INSERT INTO` or statement set is one
//! job, run to its end (when its sources are bounded); a query prints its rows (a table, or with
//! `--format tsv` one changelog row per line and nothing else on standard output); `EXPLAIN`
//! prints the plan with each operator's changelog mode and state class. Logs go to standard
//! error. With `--jobmanager <url>` each job is submitted to that cluster instead
//! ([`Job::Sql`]: the script and the job's number), whose processes each plan it with
//! [`plan_sql`].

use crate::cli::{Interrupts, LocalFlags, execute_local, load_config};
use crate::jobs::{BuiltJob, JobFlags, Registry, Report};
use crate::spec::{Job, JobSettings, Overrides, Submission};
use anyhow::Context;
use ferroflink_cluster::client::RestClient;
use ferroflink_core::error::{Error, Result as EngineResult};
use ferroflink_datastream::StreamExecutionEnvironment;
use ferroflink_runtime::checkpoint::restore::{RestoreVerdict, read_metadata, snapshot_storage};
use ferroflink_sql::ast::Insert;
use ferroflink_sql::connectors::StdoutSink;
use ferroflink_sql::format::RowPrinter;
use ferroflink_sql::planner::{PlanNode, Planner, StateClass};
use ferroflink_sql::{Effect, Session, SqlError};
use serde_json::Value;
use std::path::PathBuf;

/// The arguments of `ferroflink sql`.
#[derive(clap::Args)]
pub struct SqlArgs {
    /// The script to run (statements separated by `;`).
    #[arg(short = 'f', long = "file", conflicts_with = "execute", required_unless_present = "execute")]
    file: Option<PathBuf>,
    /// Statements to run, given inline.
    #[arg(short = 'e', long = "execute")]
    execute: Option<String>,
    /// How a query's rows are printed: `table` (Flink's tableau) or `tsv` (one changelog row per
    /// line: `+I`/`-U`/`+U`/`-D`, then the columns, tab-separated, NULL as `\N`).
    #[arg(long, default_value = "table", value_parser = ["table", "tsv"])]
    format: String,
    /// Submit each job of the script to the cluster whose JobManager's REST address this is,
    /// print its id, and return (Flink's SQL client against a session cluster).
    #[arg(long, value_name = "URL")]
    jobmanager: Option<String>,
    /// Run nothing: print what restoring this savepoint (or checkpoint) into the script's job
    /// would do (which operators restore, which lose their state, which start without) and exit
    /// 1 when the restore would be refused (losing state needs `--allow-non-restored-state`).
    #[arg(long, value_name = "SAVEPOINT", conflicts_with = "jobmanager")]
    check_restore: Option<String>,
    #[command(flatten)]
    local: LocalFlags,
    #[command(flatten)]
    job: JobFlags,
}

/// Runs `ferroflink sql` with the functions of `registry` for `CREATE FUNCTION`.
pub fn run(args: SqlArgs, registry: &Registry) -> anyhow::Result<()> {
    let (text, origin) = match (&args.file, &args.execute) {
        (Some(path), _) => (
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
            path.display().to_string(),
        ),
        (None, Some(text)) => (text.clone(), "-e".to_string()),
        (None, None) => anyhow::bail!("give a script with -f <file> or statements with -e \"...\""),
    };
    let located = |e: SqlError| anyhow::anyhow!("{origin}: {e}");
    let statements = ferroflink_sql::parse_script(&text).map_err(located)?;
    let config = load_config(args.local.config.as_deref(), Overrides::new(), Vec::new())?;
    let base = JobSettings::from_config(&config);
    let flags = args.job.overrides();
    if let Some(snapshot) = &args.check_restore {
        return check_restore(
            &text,
            &origin,
            snapshot,
            base.with(&flags)?,
            args.job.allow_non_restored_state,
            registry,
        );
    }
    let cluster = args.jobmanager.as_deref().map(RestClient::new);
    let mut submitted = 0;
    let mut session = Session::new();
    let mut signals = None;
    for statement in &statements {
        let effect = session.execute(statement).map_err(located)?;
        for warning in session.take_warnings() {
            tracing::warn!("{warning}");
        }
        let effect = match effect {
            Effect::Done => continue,
            Effect::ShowOptions(options) => {
                for (key, value) in options {
                    println!("{key}={value}");
                }
                continue;
            }
            Effect::Explain { effect, .. } => {
                let env = StreamExecutionEnvironment::new();
                let planner = Planner::new(&session, env)
                    .and_then(|p| p.with_functions(registry.functions()))
                    .map_err(located)?;
                let plans = match *effect {
                    Effect::Job(inserts) => planner.inserts(&inserts).map_err(located)?,
                    Effect::Query(query) => vec![planner.query(&query).map_err(located)?.node],
                    _ => anyhow::bail!("EXPLAIN explains a query, an INSERT or a statement set"),
                };
                println!("== Job graph (operator [changelog mode, state]) ==");
                for plan in plans {
                    print!("{plan}");
                }
                continue;
            }
            effect => effect,
        };
        if let Some(cluster) = &cluster {
            let Effect::Job(_) = effect else {
                anyhow::bail!(
                    "{origin}: a query prints its rows here, so it runs locally: leave out --jobmanager, or INSERT \
                     its rows INTO a table"
                );
            };
            let submission =
                Submission { job: Job::Sql { script: text.clone(), job: submitted }, config: flags.clone() };
            let id = cluster.submit(&submission).with_context(|| format!("{origin}: submitting job {submitted}"))?;
            println!("Job ID: {id}");
            submitted += 1;
            continue;
        }
        // A job: the configuration's settings, the command line's over them, the script's SETs last.
        let (env, planner) =
            job_planner(&session, &base, &flags, registry).map_err(|e| anyhow::anyhow!("{origin}: {e}"))?;
        let (name, plans, footer) = match effect {
            Effect::Job(inserts) => (job_name(&inserts), planner.inserts(&inserts).map_err(located)?, None),
            Effect::Query(query) => {
                let planned = planner.query(&query).map_err(located)?;
                let names: Vec<String> = planned.scope.columns.iter().map(|c| c.name.clone()).collect();
                let types = planned.scope.columns.iter().map(|c| c.ty.clone()).collect();
                let sink = StdoutSink::new(RowPrinter::new(types, planner.zone().clone()), names, args.format == "tsv");
                planned.stream.sink_to(sink.clone()).name("Collect").set_parallelism(1);
                ("collect".to_string(), vec![planned.node], Some(sink))
            }
            _ => unreachable!("the other effects are handled above"),
        };
        warn_unbounded_state(&plans);
        let name = session.options().pipeline_name.clone().unwrap_or(name);
        let signals = match &mut signals {
            Some(s) => s,
            None => signals.insert(Interrupts::install()?),
        };
        execute_local(BuiltJob { env, name, report: Report::None }, &args.local, signals)?;
        if let Some(sink) = footer {
            print!("{}", sink.footer());
        }
    }
    Ok(())
}

/// `ferroflink sql --check-restore <snapshot>`: the verdict of restoring `snapshot` into the one
/// job of `script`, printed; an error (exit 1) when the restore would be refused.
fn check_restore(
    script: &str,
    origin: &str,
    snapshot: &str,
    settings: JobSettings,
    allow_lost: bool,
    registry: &Registry,
) -> anyhow::Result<()> {
    match count_jobs(script).map_err(|e| anyhow::anyhow!("{origin}: {e}"))? {
        1 => {}
        n => anyhow::bail!(
            "{origin}: a savepoint is one job's, and the script has {n} jobs (INSERT INTO or statement sets)"
        ),
    }
    let spec = crate::spec::JobSpec { job: Job::Sql { script: script.to_string(), job: 0 }, settings };
    let planned = ferroflink_runtime::planner::Planner::plan(registry, &spec)?;
    let storage = snapshot_storage(snapshot, &planned.settings.checkpoint.s3)?;
    let verdict = RestoreVerdict::of(&read_metadata(storage.as_ref())?, planned.graph.operators());
    print!("{}: {verdict}", storage.location(""));
    if !verdict.compatible(allow_lost) {
        let why = match verdict.rekeyed.is_empty() {
            true => {
                "it would lose the state named above: keep those operators, or allow it with --allow-non-restored-state"
            }
            false => "max parallelism changed: keep it as the savepoint has it",
        };
        anyhow::bail!("{origin}: the savepoint cannot restore into this job: {why}");
    }
    println!("the savepoint restores into this job");
    Ok(())
}

/// The environment and planner of a job of the script at this point of `session`: `settings`
/// with `flags` over them and the script's `SET`s over those.
fn job_planner<'s>(
    session: &'s Session,
    settings: &JobSettings,
    flags: &Overrides,
    registry: &Registry,
) -> Result<(StreamExecutionEnvironment, Planner<'s>), String> {
    let mut overrides = flags.clone();
    for (key, value) in session.job_config() {
        overrides.insert(key, Value::String(value));
    }
    let settings = settings.with(&overrides).map_err(|e| e.to_string())?;
    let env = StreamExecutionEnvironment::new();
    env.configure(&settings);
    let planner = Planner::new(session, env.clone())
        .and_then(|p| p.with_functions(registry.functions()))
        .map_err(|e| e.to_string())?;
    Ok((env, planner))
}

/// A job's name unless `pipeline.name` gives one: Flink's, after its sinks.
fn job_name(inserts: &[Insert]) -> String {
    let sinks: Vec<String> = inserts.iter().map(|i| i.table.to_string()).collect();
    format!("insert-into_{}", sinks.join(","))
}

/// Job `index` (from 0) of SQL `script` (its `INSERT`s and statement sets, in order), planned in
/// an environment configured with `settings` and the script's `SET`s: what every process of a
/// cluster plans from a SQL job's spec.
pub fn plan_sql(script: &str, index: usize, settings: &JobSettings, registry: &Registry) -> EngineResult<BuiltJob> {
    let fail = |e: String| Error::InvalidJob(format!("SQL job: {e}"));
    let statements = ferroflink_sql::parse_script(script).map_err(|e| fail(e.to_string()))?;
    let mut session = Session::new();
    let mut jobs = 0;
    for statement in &statements {
        let Effect::Job(inserts) = session.execute(statement).map_err(|e| fail(e.to_string()))? else { continue };
        if jobs < index {
            jobs += 1;
            continue;
        }
        let (env, planner) = job_planner(&session, settings, &Overrides::new(), registry).map_err(fail)?;
        planner.inserts(&inserts).map_err(|e| fail(e.to_string()))?;
        let name = session.options().pipeline_name.clone().unwrap_or_else(|| job_name(&inserts));
        return Ok(BuiltJob { env, name, report: Report::None });
    }
    Err(fail(format!("the script has {jobs} jobs (INSERT INTO or statement sets), not a job {index} (from 0)")))
}

/// How many jobs (`INSERT`s and statement sets) SQL `script` has; an error of its statements if
/// it has one.
pub fn count_jobs(script: &str) -> Result<usize, SqlError> {
    let mut session = Session::new();
    let mut jobs = 0;
    for statement in &ferroflink_sql::parse_script(script)? {
        if let Effect::Job(_) = session.execute(statement)? {
            jobs += 1;
        }
    }
    Ok(jobs)
}

/// Logs a warning for each operator whose state grows without bound.
fn warn_unbounded_state(plans: &[PlanNode]) {
    fn walk(node: &PlanNode) {
        if node.state == StateClass::Unbounded {
            tracing::warn!(
                "{} keeps state that grows without bound; set 'table.exec.state.ttl' to expire it",
                node.label
            );
        }
        node.inputs.iter().for_each(walk);
    }
    plans.iter().for_each(walk);
}
