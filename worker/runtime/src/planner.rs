//! How a process turns a [`JobSpec`] into the job graph it runs. The cluster is handed a
//! [`Planner`] and never knows a particular job: the JobManager and every TaskManager plan the same
//! spec through the planner of their binary (the plan digest checks they agree).

use crate::graph::job_graph::JobGraph;
use crate::minicluster::ExecutionSettings;
use ferroflink_core::error::Result;
use ferroflink_types::config::Config;
use ferroflink_types::spec::JobSpec;

/// A job planned from its spec.
pub struct PlannedJob {
    /// The job's name.
    pub name: String,
    /// The graph every process of the job must plan alike.
    pub graph: JobGraph,
    /// The spec's settings, with what the job's own code set on its environment.
    pub settings: ExecutionSettings,
}

/// Plans specs into job graphs: the jobs a binary knows.
pub trait Planner: Send + Sync + std::fmt::Debug {
    /// Plans `spec`; an unknown job is the user's error and names the jobs this binary knows.
    fn plan(&self, spec: &JobSpec) -> Result<PlannedJob>;

    /// Whether this binary knows job `name`.
    fn knows(&self, name: &str) -> bool;

    /// The names of the jobs this binary knows, comma-separated (for error messages).
    fn names(&self) -> String;

    /// The spec of job `name` given on a command line (`args`: its own arguments and execution
    /// flags; unset settings from `config`), as HA records written before specs existed hold it.
    fn command_line_spec(&self, name: &str, args: &[String], config: &Config) -> Result<JobSpec>;
}
