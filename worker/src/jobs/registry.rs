//! The jobs a binary knows by name: the built-in ones and a user's own. Every process of a cluster
//! plans a job from its [`JobSpec`] through the registry of its binary, so a user's crate that
//! registers its jobs and calls [`crate::cli::main`] gets the whole command line for them.
//!
//! A job's build function gets an environment already configured with the spec's settings
//! (parallelism, checkpointing, state backend, restore point, ...) and its own arguments parsed;
//! what its code sets on the environment wins over the settings, as in Flink.
//!
//! ```no_run
//! use ferroflink::jobs::{BuiltJob, Registry, Report};
//! use ferroflink::prelude::*;
//!
//! #[derive(Debug, clap::Parser)]
//! struct Args {
//!     #[arg(long)]
//!     n: u64,
//! }
//!
//! fn build(env: StreamExecutionEnvironment, args: Args) -> ferroflink::Result<BuiltJob> {
//!     env.from_collection((0..args.n).collect::<Vec<u64>>()).map(|v: u64| v * 2).print();
//!     Ok(BuiltJob { env, name: "doubles".into(), report: Report::None })
//! }
//!
//! ferroflink::cli::main(Registry::with_builtins().job("doubles", "twice 0..n: --n N", build));
//! ```

use super::{BuiltJob, JobFlags, nexmark, one_line, socket_wordcount, wordcount};
use crate::config::Config;
use crate::datastream::StreamExecutionEnvironment;
use crate::error::{Error, Result};
use crate::runtime::{PlannedJob, Planner};
use crate::spec::{Job, JobSpec};
use crate::sql::ast::{DataType, MAX_LENGTH};
use crate::sql::udf::{Udfs, UserAggregate};
use crate::sql::value::Value;
use clap::Args as _;
use std::sync::Arc;

type Build = Arc<dyn Fn(StreamExecutionEnvironment, &[String]) -> Result<BuiltJob> + Send + Sync>;

/// One registered job.
#[derive(Clone)]
struct Entry {
    name: String,
    about: String,
    build: Build,
    help: fn() -> clap::Command,
}

/// Jobs by name, in the order they were registered, and the functions SQL can bind.
#[derive(Clone, Default)]
pub struct Registry {
    jobs: Vec<Entry>,
    functions: Udfs,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.jobs.iter().map(|j| &j.name)).finish()
    }
}

impl Registry {
    /// No jobs.
    pub fn empty() -> Registry {
        Registry::default()
    }

    /// The built-in jobs: `wordcount`, `socket-window-wordcount` and `nexmark`; and the nexmark
    /// repository's SQL function `com.github.nexmark.flink.udf.CountChar` (its q14 binds it as
    /// `count_char`).
    pub fn with_builtins() -> Registry {
        Registry::empty()
            .function(
                nexmark::COUNT_CHAR,
                &[DataType::VarChar(MAX_LENGTH), DataType::VarChar(MAX_LENGTH)],
                DataType::BigInt,
                nexmark::count_char,
            )
            .job("wordcount", "count words in a file or directory: --input <path> [--output <dir>]", wordcount::build)
            .job(
                "socket-window-wordcount",
                "count words from a socket in 5 s processing-time windows: --host H --port P",
                socket_wordcount::build,
            )
            .job(
                "nexmark",
                "Nexmark queries over generated events: --query <q0|q1|q2|q5|q7|q8|tumble-count|hop-count> --events N",
                nexmark::build,
            )
    }

    /// Adds job `name`: its own arguments are parsed into `A` (a `clap::Parser`), then `build` makes
    /// the job in an environment configured with the spec's settings. The execution flags
    /// ([`JobFlags`]) are the command line's, not the job's.
    ///
    /// # Panics
    /// When `name` is registered already (two jobs of one name would plan differently), or when `A`
    /// defines a flag of [`JobFlags`].
    pub fn job<A: clap::Parser + 'static>(
        mut self,
        name: &str,
        about: &str,
        build: impl Fn(StreamExecutionEnvironment, A) -> Result<BuiltJob> + Send + Sync + 'static,
    ) -> Registry {
        assert!(!self.knows(name), "the job '{name}' is registered twice");
        let execution = JobFlags::command("");
        for arg in A::command().get_arguments() {
            let clash = execution.get_arguments().find(|e| {
                (e.get_long().is_some() && e.get_long() == arg.get_long())
                    || (e.get_short().is_some() && e.get_short() == arg.get_short())
            });
            if let Some(e) = clash {
                // (An unbuilt `Arg` cannot be displayed.)
                let flag =
                    e.get_long().map_or_else(|| format!("-{}", e.get_short().unwrap_or('?')), |l| format!("--{l}"));
                panic!(
                    "the job '{name}' defines the execution flag {flag}: drop it, the command line sets it for every job"
                );
            }
        }
        let job = name.to_string();
        let build: Build = Arc::new(move |env, args: &[String]| {
            // Usage lines as the user typed the command: `<binary> run <job> ...`.
            let binary = std::env::args().next().map(std::path::PathBuf::from);
            let binary =
                binary.as_ref().and_then(|b| b.file_name()).map_or("ferroflink".into(), |b| b.to_string_lossy());
            let argv = std::iter::once(format!("{binary} run {job}")).chain(args.iter().cloned());
            let parsed = A::try_parse_from(argv).map_err(|e| Error::InvalidJob(one_line(&e.to_string())))?;
            build(env, parsed)
        });
        let help = || JobFlags::augment_args(A::command());
        self.jobs.push(Entry { name: name.into(), about: about.into(), build, help });
        self
    }

    /// Adds a scalar function for SQL under `identifier` (`CREATE FUNCTION f AS '<identifier>'`
    /// binds a SQL name to it): its argument types, its result type and its body, which gets the
    /// arguments cast to those types (NULL as it is) and returns the result or why there is none
    /// (which fails the job).
    ///
    /// # Panics
    /// When `identifier` is registered already.
    pub fn function(
        mut self,
        identifier: &str,
        args: &[DataType],
        result: DataType,
        body: impl Fn(&[Value]) -> std::result::Result<Value, String> + Send + Sync + 'static,
    ) -> Registry {
        self.functions = self.functions.scalar(identifier, args, result, body);
        self
    }

    /// Adds an aggregate function for SQL under `identifier` (`CREATE FUNCTION f AS '<identifier>'`
    /// binds a SQL name to it; `GROUP BY` and window aggregates call it like `SUM`): its argument
    /// types, its result type and its body (Flink's `AggregateFunction`: an accumulator, with
    /// `retract` for changelog input and `merge` for sliding, cumulative and session windows).
    ///
    /// # Panics
    /// When `identifier` is registered already.
    pub fn aggregate_function(
        mut self,
        identifier: &str,
        args: &[DataType],
        result: DataType,
        function: impl UserAggregate,
    ) -> Registry {
        self.functions = self.functions.aggregate(identifier, args, result, function);
        self
    }

    /// The functions registered for SQL.
    pub fn functions(&self) -> &Udfs {
        &self.functions
    }

    /// Whether job `name` is registered.
    pub fn knows(&self, name: &str) -> bool {
        self.jobs.iter().any(|j| j.name == name)
    }

    /// The registered jobs' names and descriptions.
    pub fn jobs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.jobs.iter().map(|j| (j.name.as_str(), j.about.as_str()))
    }

    /// The names of the registered jobs, comma-separated.
    pub fn names(&self) -> String {
        self.jobs.iter().map(|j| j.name.as_str()).collect::<Vec<_>>().join(", ")
    }

    /// Builds the job of `spec` in an environment configured with its settings.
    pub fn build(&self, spec: &JobSpec) -> Result<BuiltJob> {
        let (name, args) = match &spec.job {
            Job::Registered { name, args } => (name, args),
            Job::Sql { script, job } => return crate::sql_client::plan_sql(script, *job, &spec.settings, self),
        };
        let Some(job) = self.jobs.iter().find(|j| &j.name == name) else {
            return Err(Error::InvalidJob(format!(
                "unknown job '{name}'; the jobs of this binary are: {}",
                self.names()
            )));
        };
        let env = StreamExecutionEnvironment::new();
        env.configure(&spec.settings);
        (job.build)(env, args)
    }

    /// The command line of job `name` (its arguments and the job settings), for `--help`.
    pub fn help(&self, name: &str) -> Option<clap::Command> {
        self.jobs.iter().find(|j| j.name == name).map(|j| (j.help)())
    }
}

impl Planner for Registry {
    fn plan(&self, spec: &JobSpec) -> Result<PlannedJob> {
        let built = self.build(spec)?;
        Ok(PlannedJob { graph: built.env.job_graph()?, settings: built.env.execution_settings(), name: built.name })
    }

    fn knows(&self, name: &str) -> bool {
        Registry::knows(self, name)
    }

    fn names(&self) -> String {
        Registry::names(self)
    }

    fn command_line_spec(&self, name: &str, args: &[String], config: &Config) -> Result<JobSpec> {
        JobFlags::spec(name, args, config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::Report;

    fn plan(registry: &Registry, name: &str, args: &[&str]) -> Result<BuiltJob> {
        registry.build(&JobSpec::registered(name, &args.iter().map(|a| a.to_string()).collect::<Vec<_>>()))
    }

    #[test]
    fn jobs_are_planned_by_name_with_one_line_errors() {
        let registry = Registry::with_builtins();
        let e = plan(&registry, "nope", &[]).err().unwrap().to_string();
        assert!(e.contains("unknown job 'nope'") && e.contains("wordcount, socket-window-wordcount, nexmark"), "{e}");
        let e = plan(&registry, "wordcount", &[]).err().unwrap().to_string();
        assert!(!e.contains('\n') && e.contains("--input") && e.contains("usage: "), "{e}");
        let help = registry.help("nexmark").unwrap().render_help().to_string();
        assert!(help.contains("--query") && help.contains("--checkpoint-interval"), "{help}");
        assert!(plan(&registry, "nexmark", &["--query", "q1", "--events", "10"]).is_ok());
        let e = plan(&registry, "nexmark", &["--query", "q1", "-p", "2"]).err().unwrap().to_string();
        assert!(e.contains("'-p'"), "execution flags are not the job's: {e}");
    }

    #[test]
    fn the_specs_settings_configure_the_environment_before_the_job_is_built() {
        let mut spec = JobSpec::registered("nexmark", &["--query".into(), "q5".into(), "--events".into(), "10".into()]);
        spec.settings.job.parallelism = Some(3);
        spec.settings.job.max_parallelism = Some(64);
        let graph = Registry::with_builtins().plan(&spec).unwrap().graph;
        assert!(graph.vertices.iter().any(|v| v.parallelism == 3), "{}", graph.describe());
        assert!(graph.vertices.iter().all(|v| v.max_parallelism == 64));
    }

    #[test]
    fn execution_flags_are_split_from_the_jobs_own_arguments() {
        let args: Vec<String> = [
            "--query",
            "q5",
            "-p",
            "4",
            "--events=9",
            "--checkpoint-interval",
            "10 s",
            "-Dstate.backend.type=rocksdb",
            "--s3-path-style",
            "--",
            "-p",
        ]
        .iter()
        .map(|a| a.to_string())
        .collect();
        let (flags, rest) = JobFlags::split(&args).unwrap();
        assert_eq!(rest, ["--query", "q5", "--events=9", "--", "-p"]);
        let o = flags.overrides();
        assert_eq!(o["job.parallelism"], 4);
        assert_eq!(o["checkpointing.interval"], "10s");
        assert_eq!(o["state.backend.type"], "rocksdb");
        assert_eq!(o["s3.path-style"], true);
        let e = JobFlags::split(&["--restore-mode".to_string(), "claim".to_string()]).unwrap_err().to_string();
        assert!(e.contains("--restore"), "{e}");
    }

    #[test]
    #[should_panic(expected = "defines the execution flag --parallelism")]
    fn a_job_cannot_take_an_execution_flag() {
        #[derive(Debug, clap::Parser)]
        struct Args {
            #[arg(long)]
            parallelism: usize,
        }
        let _ = Registry::empty()
            .job("p", "p", |env, _: Args| Ok(BuiltJob { env, name: "p".into(), report: Report::None }));
    }

    #[test]
    #[should_panic(expected = "registered twice")]
    fn a_name_is_registered_once() {
        let _ = Registry::with_builtins().job("nexmark", "again", super::super::nexmark::build);
    }
}
