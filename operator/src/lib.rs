//! The ferroflink Kubernetes operator: the `FlinkJob` resource ([`crd`]) and what it becomes
//! ([`render`]). The operator never links the engine; it talks to JobManagers over REST and hands
//! them their configuration file.

pub mod controller;
pub mod crd;
pub mod jobmanager;
pub mod leader;
pub mod metrics;
pub mod reconcile;
pub mod render;
pub mod savepoints;
