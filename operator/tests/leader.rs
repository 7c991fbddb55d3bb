//! Operator leader election on a coordination.k8s.io/v1 Lease (kube-lease-manager), against the
//! in-memory API server: one holder at a time, a standby's competing update conflicts, and the
//! standby takes over when the leader lets go.

use ferroflink_operator::leader::{LEASE_NAME, lease_manager};
use k8s_openapi::api::coordination::v1::Lease;
use std::time::Duration;

async fn client() -> kube::Client {
    kube_fake_client::ClientBuilder::new().with_resource::<Lease>().build().await.unwrap()
}

async fn holder(client: &kube::Client) -> Option<String> {
    let lease: kube::Api<Lease> = kube::Api::namespaced(client.clone(), "ops");
    lease.get(LEASE_NAME).await.unwrap().spec.unwrap().holder_identity
}

#[tokio::test]
async fn a_standby_conflicts_while_the_leader_holds_the_lease() {
    let client = client().await;
    // As in production: each replica applies the Lease under its own field manager.
    let a = lease_manager(client.clone(), "ops", "operator-a", None, 2).await.unwrap();
    let b = lease_manager(client.clone(), "ops", "operator-b", None, 2).await.unwrap();
    assert!(a.changed().await.unwrap(), "the first manager becomes leader");
    let attempt = tokio::time::timeout(Duration::from_millis(800), b.changed()).await;
    assert!(attempt.is_err(), "the standby's update conflicts; it does not lead");
    assert_eq!(holder(&client).await.as_deref(), Some("operator-a"));
}

#[tokio::test]
async fn the_standby_takes_over_when_the_leader_lets_go() {
    let client = client().await;
    // The in-memory server keeps a manager's field ownership after the field is removed, so a second
    // field manager would conflict forever; a real API server drops it. One field manager here.
    let a = lease_manager(client.clone(), "ops", "operator-a", Some("ferroflink-operator"), 2).await.unwrap();
    let b = lease_manager(client.clone(), "ops", "operator-b", Some("ferroflink-operator"), 2).await.unwrap();
    assert!(a.changed().await.unwrap());
    assert!(tokio::time::timeout(Duration::from_millis(300), b.changed()).await.is_err(), "b waits");
    a.release().await.unwrap();
    let took_over = tokio::time::timeout(Duration::from_secs(5), b.changed()).await;
    assert!(matches!(took_over, Ok(Ok(true))), "{took_over:?}");
    assert_eq!(holder(&client).await.as_deref(), Some("operator-b"));
}
