//! HA records in Kubernetes: the leader is the holder of the coordination.k8s.io/v1 Lease
//! `<cluster-id>-jobmanager-leader` (its epoch in `spec.leaseTransitions`, its addresses in
//! annotations), and the job records are the ConfigMap `<cluster-id>-jobmanager-ha` (key
//! `jobs.json`). Compare-and-set is the API server's: a write names the `resourceVersion` it read
//! and a stale one is refused with 409 Conflict. The JobManager pods' ServiceAccount needs `get`,
//! `create` and `update` on leases and configmaps in their namespace (the operator's Role grants it).

use crate::ha::{HaStore, JobRecords, LeaderRecord, Version};
use ferroflink_core::error::{Error, Result};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::PostParams;
use std::collections::BTreeMap;
use std::sync::Arc;

const RPC_ANNOTATION: &str = "ferroflink.io/rpc-address";
const REST_ANNOTATION: &str = "ferroflink.io/rest-address";
const JOBS_KEY: &str = "jobs.json";

/// HA records in a Lease and a ConfigMap.
pub struct KubernetesStore {
    leases: Api<Lease>,
    config_maps: Api<ConfigMap>,
    lease_name: String,
    config_map_name: String,
    cluster_id: String,
    namespace: String,
    runtime: tokio::runtime::Handle,
    /// The runtime the client runs on, when the store made it.
    _owned: Option<Arc<tokio::runtime::Runtime>>,
}

impl KubernetesStore {
    /// Connects to the API server the process runs under (in-cluster service account, else the
    /// kubeconfig); records go to `namespace`, else the client's default namespace (the pod's).
    pub fn connect(namespace: Option<String>, cluster_id: &str) -> Result<KubernetesStore> {
        // kube's TLS is rustls; pin its crypto provider (aws-sdk-s3 links rustls too).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let runtime = Arc::new(crate::runtime("kubernetes-ha")?);
        let client = runtime.block_on(kube::Client::try_default()).map_err(|e| {
            Error::Config(format!(
                "ha.mode kubernetes cannot reach the Kubernetes API ({e}); run in a pod with a ServiceAccount, or \
                 with a kubeconfig"
            ))
        })?;
        let namespace = namespace
            .or_else(|| std::env::var("POD_NAMESPACE").ok())
            .unwrap_or_else(|| client.default_namespace().to_string());
        let mut store = KubernetesStore::new(client, &namespace, cluster_id, runtime.handle().clone());
        store._owned = Some(runtime);
        Ok(store)
    }

    /// Records of `cluster_id` in `namespace` through `client`, whose futures run on `runtime`.
    pub fn new(
        client: kube::Client,
        namespace: &str,
        cluster_id: &str,
        runtime: tokio::runtime::Handle,
    ) -> KubernetesStore {
        KubernetesStore {
            leases: Api::namespaced(client.clone(), namespace),
            config_maps: Api::namespaced(client, namespace),
            lease_name: format!("{cluster_id}-jobmanager-leader"),
            config_map_name: format!("{cluster_id}-jobmanager-ha"),
            cluster_id: cluster_id.to_string(),
            namespace: namespace.to_string(),
            runtime,
            _owned: None,
        }
    }

    fn meta(&self, name: &str, expected: Option<&Version>) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(self.namespace.clone()),
            resource_version: expected.cloned(),
            labels: Some(BTreeMap::from([
                ("app.kubernetes.io/name".to_string(), "ferroflink".to_string()),
                ("ferroflink.io/ha-cluster-id".to_string(), self.cluster_id.clone()),
            ])),
            ..Default::default()
        }
    }

    fn api_error(&self, what: &str, e: kube::Error) -> Error {
        Error::Cluster(format!(
            "Kubernetes HA: cannot {what} in namespace {} ({e}); check that the JobManager's ServiceAccount may get, \
             create and update leases and configmaps there",
            self.namespace
        ))
    }

    /// Creates (`expected` None) or replaces `object`; `false` on a conflict.
    fn write<K>(&self, api: &Api<K>, name: &str, object: &K, expected: Option<&Version>) -> Result<bool>
    where
        K: kube::Resource + Clone + serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug,
    {
        let pp = PostParams::default();
        let result = self.runtime.block_on(async {
            match expected {
                None => api.create(&pp, object).await,
                Some(_) => api.replace(name, &pp, object).await,
            }
        });
        match result {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
            // Replacing an object deleted since it was read.
            Err(kube::Error::Api(s)) if s.code == 404 && expected.is_some() => Ok(false),
            Err(e) => Err(self.api_error(&format!("write {name}"), e)),
        }
    }

    fn get<K>(&self, api: &Api<K>, name: &str) -> Result<Option<K>>
    where
        K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    {
        self.runtime.block_on(api.get_opt(name)).map_err(|e| self.api_error(&format!("read {name}"), e))
    }
}

fn millis(t: &Option<MicroTime>) -> u64 {
    t.as_ref().map_or(0, |t| t.0.as_millisecond().max(0) as u64)
}

impl HaStore for KubernetesStore {
    fn describe(&self) -> String {
        format!("Lease {0}/{1} and ConfigMap {0}/{2}", self.namespace, self.lease_name, self.config_map_name)
    }

    fn read_leader(&self) -> Result<Option<(LeaderRecord, Version)>> {
        let Some(lease) = self.get(&self.leases, &self.lease_name)? else { return Ok(None) };
        let spec = lease.spec.unwrap_or_default();
        let annotations = lease.metadata.annotations.unwrap_or_default();
        // A Lease without a holder (given up, or made by hand) is expired: whoever takes it next
        // replaces it at its resourceVersion.
        let record = LeaderRecord {
            holder: spec.holder_identity.unwrap_or_default(),
            epoch: spec.lease_transitions.unwrap_or(0).max(0) as u64,
            renewed_ms: millis(&spec.renew_time),
            lease_ms: spec.lease_duration_seconds.unwrap_or(0).max(0) as u64 * 1000,
            rpc_address: annotations.get(RPC_ANNOTATION).cloned().unwrap_or_default(),
            rest_address: annotations.get(REST_ANNOTATION).cloned().unwrap_or_default(),
        };
        Ok(Some((record, lease.metadata.resource_version.unwrap_or_default())))
    }

    fn write_leader(&self, record: &LeaderRecord, expected: Option<&Version>) -> Result<bool> {
        let mut metadata = self.meta(&self.lease_name, expected);
        metadata.annotations = Some(BTreeMap::from([
            (RPC_ANNOTATION.to_string(), record.rpc_address.clone()),
            (REST_ANNOTATION.to_string(), record.rest_address.clone()),
        ]));
        let renewed = Timestamp::from_millisecond(record.renewed_ms as i64)
            .map_err(|e| Error::Internal(format!("renew time {}: {e}", record.renewed_ms)))?;
        let lease = Lease {
            metadata,
            spec: Some(LeaseSpec {
                holder_identity: Some(record.holder.clone()),
                lease_duration_seconds: Some(record.lease_ms.div_ceil(1000) as i32),
                lease_transitions: Some(i32::try_from(record.epoch).unwrap_or(i32::MAX)),
                renew_time: Some(MicroTime(renewed)),
                ..Default::default()
            }),
        };
        self.write(&self.leases, &self.lease_name, &lease, expected)
    }

    fn read_jobs(&self) -> Result<Option<(JobRecords, Version)>> {
        let Some(cm) = self.get(&self.config_maps, &self.config_map_name)? else { return Ok(None) };
        let json = cm.data.as_ref().and_then(|d| d.get(JOBS_KEY)).map_or("{}", String::as_str);
        let records = serde_json::from_str(json).map_err(|e| {
            Error::CorruptSnapshot(format!(
                "the ConfigMap {}/{} key {JOBS_KEY} is unreadable ({e}); restore it or delete the ConfigMap, which \
                 makes the next leader start its jobs afresh",
                self.namespace, self.config_map_name
            ))
        })?;
        Ok(Some((records, cm.metadata.resource_version.unwrap_or_default())))
    }

    fn write_jobs(&self, records: &JobRecords, expected: Option<&Version>) -> Result<bool> {
        let json = serde_json::to_string(records).map_err(|e| Error::Internal(e.to_string()))?;
        let cm = ConfigMap {
            metadata: self.meta(&self.config_map_name, expected),
            data: Some(BTreeMap::from([(JOBS_KEY.to_string(), json)])),
            ..Default::default()
        };
        self.write(&self.config_maps, &self.config_map_name, &cm, expected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ha::HaServices;
    use crate::ha::tests::{leadership_and_fencing, record};
    use std::time::Duration;

    fn fake_api() -> (tokio::runtime::Runtime, kube::Client) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let client = rt.block_on(async {
            kube_fake_client::ClientBuilder::new()
                .with_resource::<Lease>()
                .with_resource::<ConfigMap>()
                .build()
                .await
                .unwrap()
        });
        (rt, client)
    }

    #[test]
    fn lease_election_and_fencing_against_an_in_memory_api_server() {
        let (rt, client) = fake_api();
        let lease = Duration::from_secs(1);
        let make = |who: &str| {
            let store = KubernetesStore::new(client.clone(), "streaming", "uid-1", rt.handle().clone());
            HaServices::new(Box::new(store), who, lease)
        };
        leadership_and_fencing(make, lease);

        // What an operator (or kubectl) sees: the Lease with holder, epoch and addresses.
        let leases: Api<Lease> = Api::namespaced(client.clone(), "streaming");
        let l = rt.block_on(leases.get("uid-1-jobmanager-leader")).unwrap();
        let spec = l.spec.unwrap();
        assert_eq!(spec.holder_identity.as_deref(), Some("a"));
        assert_eq!(spec.lease_transitions, Some(3));
        assert_eq!(spec.lease_duration_seconds, Some(1));
        assert_eq!(l.metadata.annotations.unwrap()[RPC_ANNOTATION], "a:6123");
        let maps: Api<ConfigMap> = Api::namespaced(client, "streaming");
        let cm = rt.block_on(maps.get("uid-1-jobmanager-ha")).unwrap();
        let records: JobRecords = serde_json::from_str(&cm.data.unwrap()[JOBS_KEY]).unwrap();
        assert_eq!(records.fence, 3);
        assert_eq!(records.jobs.len(), 1);
    }

    #[test]
    fn a_write_from_a_stale_read_conflicts_and_changes_nothing() {
        let (rt, client) = fake_api();
        let store = KubernetesStore::new(client, "ns", "c", rt.handle().clone());
        let mut records = JobRecords { fence: 1, ..Default::default() };
        assert!(store.write_jobs(&records, None).unwrap());
        assert!(!store.write_jobs(&records, None).unwrap(), "create over an existing ConfigMap conflicts");
        let (_, v1) = store.read_jobs().unwrap().unwrap();
        records.jobs.insert("j".into(), record("j"));
        assert!(store.write_jobs(&records, Some(&v1)).unwrap());
        records.fence = 7;
        assert!(!store.write_jobs(&records, Some(&v1)).unwrap(), "a stale resourceVersion conflicts");
        let (now, _) = store.read_jobs().unwrap().unwrap();
        assert_eq!(now.fence, 1);
        assert_eq!(now.jobs.len(), 1);
    }
}
