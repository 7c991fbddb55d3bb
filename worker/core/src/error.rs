//! The engine's error type: every error says whose fault it is (the user's job or input, an external
//! system, or the engine itself) so callers can decide whether a retry can help.

use std::fmt;

/// Result with the engine's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Who is at fault for an [`Error`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Domain {
    /// Bad job definition, arguments or input data: retrying the same thing fails the same way.
    User,
    /// A file, socket or other external system failed: a retry may help.
    External,
    /// A bug or broken invariant inside the engine.
    Internal,
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Domain::User => "user error",
            Domain::External => "external error",
            Domain::Internal => "internal error",
        })
    }
}

/// An engine error.
#[must_use]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The job or its arguments are invalid.
    #[error("invalid job: {0}")]
    InvalidJob(String),
    /// A configuration file, variable or flag is invalid.
    #[error("configuration error: {0}")]
    Config(String),
    /// The cluster cannot run the job as configured.
    #[error("not enough task slots: {0}")]
    NotEnoughSlots(String),
    /// An I/O operation on an external system failed.
    #[error("{context}: {source}")]
    Io {
        /// What the engine was doing.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Encoding or decoding a record or state value failed.
    #[error("codec error: {0}")]
    Codec(String),
    /// A checkpoint or savepoint could not be written or read.
    #[error("{0}")]
    Checkpoint(String),
    /// A checkpoint or savepoint is damaged or incomplete: restoring it again cannot succeed.
    #[error("{0}")]
    CorruptSnapshot(String),
    /// A task failed; the message names the task.
    #[error("task {task} failed: {message}")]
    TaskFailed {
        /// `vertex name (subtask i/n)`.
        task: String,
        /// Why it failed.
        message: String,
        /// Who is at fault for the underlying error.
        cause: Domain,
    },
    /// A record the job's code cannot process (a SQL `CAST` of text that is not a number, a
    /// division by zero): restarting would fail on it again.
    #[error("{0}")]
    Record(String),
    /// A TaskManager or JobManager was lost or refused a request (a restart may help).
    #[error("{0}")]
    Cluster(String),
    /// A write of a JobManager whose leadership ended was refused (fencing).
    #[error(
        "refused a write of JobManager leadership epoch {epoch}: epoch {current} leads now (this JobManager was \
         deposed and must not commit; it steps down)"
    )]
    Fenced {
        /// The epoch of the refused write.
        epoch: u64,
        /// The epoch that leads.
        current: u64,
    },
    /// A broken invariant inside the engine.
    #[error("internal error: {0}")]
    Internal(String),
    /// The job was cancelled (for example by Ctrl-C).
    #[error("job cancelled")]
    Cancelled,
}

impl Error {
    /// Who is at fault.
    pub fn domain(&self) -> Domain {
        match self {
            Error::InvalidJob(_)
            | Error::Config(_)
            | Error::NotEnoughSlots(_)
            | Error::CorruptSnapshot(_)
            | Error::Record(_) => Domain::User,
            Error::Io { .. } | Error::Checkpoint(_) | Error::Cluster(_) | Error::Fenced { .. } => Domain::External,
            Error::TaskFailed { cause, .. } => *cause,
            Error::Codec(_) | Error::Internal(_) | Error::Cancelled => Domain::Internal,
        }
    }

    /// Whether retrying the same operation may succeed.
    pub fn is_retryable(&self) -> bool {
        self.domain() == Domain::External
    }

    /// An I/O error with what the engine was doing when it happened.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io { context: context.into(), source }
    }
}

impl From<ferroflink_types::config::ConfigError> for Error {
    fn from(e: ferroflink_types::config::ConfigError) -> Self {
        Error::Config(e.0)
    }
}
