//! The jobs a binary knows by name: the built-in ones and a user's own. Every process of a cluster
//! builds a job from its name and arguments through the registry of its binary, so a user's crate
//! that registers its jobs and calls [`crate::cli::main`] gets the whole command line for them.
//!
//! ```no_run
//! use ferroflink::jobs::{BuiltJob, CommonArgs, Registry, Report};
//! use ferroflink::prelude::*;
//!
//! #[derive(Debug, clap::Parser)]
//! struct Args {
//!     #[arg(long)]
//!     n: u64,
//!     #[command(flatten)]
//!     common: CommonArgs,
//! }
//!
//! fn build(args: Args) -> ferroflink::Result<BuiltJob> {
//!     let env = StreamExecutionEnvironment::new();
//!     args.common.apply(&env);
//!     env.from_collection((0..args.n).collect::<Vec<u64>>()).map(|v: u64| v * 2).print();
//!     Ok(BuiltJob { env, name: "doubles".into(), report: Report::None })
//! }
//!
//! ferroflink::cli::main(Registry::with_builtins().job("doubles", "twice 0..n: --n N", build));
//! ```

use super::{BuiltJob, nexmark, one_line, socket_wordcount, wordcount};
use crate::error::{Error, Result};
use std::sync::Arc;

type Build = Arc<dyn Fn(&[String]) -> Result<BuiltJob> + Send + Sync>;

/// One registered job.
#[derive(Clone)]
struct Entry {
    name: String,
    about: String,
    build: Build,
    help: fn() -> String,
}

/// Jobs by name, in the order they were registered.
#[derive(Clone, Default)]
pub struct Registry {
    jobs: Vec<Entry>,
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

    /// The built-in jobs: `wordcount`, `socket-window-wordcount` and `nexmark`.
    pub fn with_builtins() -> Registry {
        Registry::empty()
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

    /// Adds job `name`: its arguments are parsed into `A` (a `clap::Parser`; flatten
    /// [`super::CommonArgs`] into it for the flags every job takes), then `build` makes the job.
    ///
    /// # Panics
    /// When `name` is registered already: two jobs of one name would plan differently.
    pub fn job<A: clap::Parser + 'static>(
        mut self,
        name: &str,
        about: &str,
        build: impl Fn(A) -> Result<BuiltJob> + Send + Sync + 'static,
    ) -> Registry {
        assert!(!self.knows(name), "the job '{name}' is registered twice");
        let job = name.to_string();
        let build: Build = Arc::new(move |args: &[String]| {
            // Usage lines as the user typed the command: `<binary> run <job> ...`.
            let binary = std::env::args().next().map(std::path::PathBuf::from);
            let binary =
                binary.as_ref().and_then(|b| b.file_name()).map_or("ferroflink".into(), |b| b.to_string_lossy());
            let argv = std::iter::once(format!("{binary} run {job}")).chain(args.iter().cloned());
            let parsed = A::try_parse_from(argv).map_err(|e| Error::InvalidJob(one_line(&e.to_string())))?;
            build(parsed)
        });
        let help = || A::command().render_help().to_string();
        self.jobs.push(Entry { name: name.into(), about: about.into(), build, help });
        self
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

    /// Builds job `name` from its arguments (without the job name).
    pub fn build(&self, name: &str, args: &[String]) -> Result<BuiltJob> {
        match self.jobs.iter().find(|j| j.name == name) {
            Some(job) => (job.build)(args),
            None => {
                Err(Error::InvalidJob(format!("unknown job '{name}'; the jobs of this binary are: {}", self.names())))
            }
        }
    }

    /// The `--help` text of job `name`.
    pub fn help(&self, name: &str) -> Option<String> {
        self.jobs.iter().find(|j| j.name == name).map(|j| (j.help)())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_are_built_by_name_with_one_line_errors() {
        let registry = Registry::with_builtins();
        let e = registry.build("nope", &[]).err().unwrap().to_string();
        assert!(e.contains("unknown job 'nope'") && e.contains("wordcount, socket-window-wordcount, nexmark"), "{e}");
        let e = registry.build("wordcount", &[]).err().unwrap().to_string();
        assert!(!e.contains('\n') && e.contains("--input") && e.contains("usage: "), "{e}");
        assert!(registry.help("nexmark").unwrap().contains("--query"));
        assert!(registry.build("nexmark", &["--query".into(), "q1".into(), "--events".into(), "10".into()]).is_ok());
    }

    #[test]
    #[should_panic(expected = "registered twice")]
    fn a_name_is_registered_once() {
        let _ = Registry::with_builtins().job("nexmark", "again", super::super::nexmark::build);
    }
}
