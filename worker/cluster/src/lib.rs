//! The distributed runtime: the JobManager process ([`jobmanager`]), which holds the slot pool,
//! runs each job's supervisor and checkpoint coordinator and serves the REST API ([`rest`]); and
//! the TaskManager process ([`taskmanager`]), which runs the tasks the JobManager deploys into its
//! slots. They talk over one gRPC stream per TaskManager (`proto/cluster.proto`, [`proto`]).
//!
//! A job travels as its spec ([`ferroflink_types::spec::JobSpec`]): the JobManager and every
//! TaskManager plan it through the [`ferroflink_runtime::Planner`] their binary hands them (a registry of jobs; this crate
//! knows none), and the JobManager's plan digest travels with every deployment, so only specs,
//! digests and task numbers cross the wire, never code.

pub mod client;
pub mod ha;
pub mod jobmanager;
pub mod prometheus;
pub mod rest;
pub mod taskmanager;

/// The generated gRPC messages and services.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod proto {
    tonic::include_proto!("ferroflink.cluster.v1");
}

use ferroflink_core::error::{Error, Result};
use std::net::{SocketAddr, ToSocketAddrs};

pub use ferroflink_runtime::VERSION;

/// The address of `bind:port`.
pub fn socket_addr(bind: &str, port: u16) -> Result<SocketAddr> {
    (bind, port)
        .to_socket_addrs()
        .map_err(|e| Error::Config(format!("cannot resolve the address '{bind}:{port}': {e}")))?
        .next()
        .ok_or_else(|| Error::Config(format!("'{bind}:{port}' resolves to no address")))
}

/// This machine's host name (the advertised address when none is configured).
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// A multi-threaded tokio runtime for a process's servers.
pub(crate) fn runtime(name: &str) -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(name)
        .enable_all()
        .build()
        .map_err(|e| Error::io("starting the async runtime", e))
}
