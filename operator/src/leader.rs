//! Operator leader election: replicas compete for a coordination.k8s.io/v1 Lease; only the holder
//! runs the controller, and a standby takes over within the lease duration when the holder stops
//! renewing it.

use kube::Client;
use kube_lease_manager::{LeaseManager, LeaseManagerBuilder};

/// Name of the operator's Lease.
pub const LEASE_NAME: &str = "ferroflink-operator";

/// A lease manager for this replica. `field_manager` defaults to one per identity (so competing
/// replicas' updates conflict on the API server); `duration` is the lease duration in seconds.
pub async fn lease_manager(
    client: Client,
    namespace: &str,
    identity: &str,
    field_manager: Option<&str>,
    duration: u64,
) -> Result<LeaseManager, kube_lease_manager::LeaseManagerError> {
    let mut builder = LeaseManagerBuilder::new(client, LEASE_NAME)
        .with_namespace(namespace)
        .with_identity(identity)
        .with_duration(duration)
        .with_grace((duration / 3).max(1));
    if let Some(m) = field_manager {
        builder = builder.with_field_manager(m);
    }
    builder.build().await
}
