//! JobManager high availability: one leader among the JobManager processes of a cluster, and the
//! records a new leader resumes the jobs from.
//!
//! Leadership is a lease in a [`HaStore`]: the leader renews it every third of `ha.lease-duration`;
//! a JobManager that finds it expired (or absent) takes it with the next **epoch**. Every store
//! offers compare-and-set on two records, the leader record and the job records, so two candidates
//! never both win an epoch. The job records carry a **fence**, the epoch of the leader allowed to
//! write them: a new leader raises it before anything else, so the writes of a deposed leader
//! (a frozen process that wakes up) are refused with [`Error::Fenced`] and it cannot commit a
//! checkpoint. TaskManagers refuse JobManagers of an older epoch than one they have served.
//!
//! Per job the records hold its spec (or where a large one is stored), the checkpoint-id
//! counter, where it resumes from (its latest completed checkpoint, else the snapshot it started
//! from) and its terminal state, so a restarted JobManager never runs a finished job again.
//!
//! Stores: [`file::FileStore`] (a shared directory, for local clusters and tests) and
//! [`kubernetes::KubernetesStore`] (a coordination.k8s.io/v1 Lease and a ConfigMap).

pub mod file;
pub mod kubernetes;

use ferroflink_core::error::{Error, Result};
use ferroflink_types::config::{Config, HaMode};
use ferroflink_types::spec::JobSpec;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Who leads, since when, and where it is reached.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaderRecord {
    /// The leading JobManager's identity.
    pub holder: String,
    /// Its epoch: one more than the leader before it.
    pub epoch: u64,
    /// When it last renewed its lease (ms since the Unix epoch).
    pub renewed_ms: u64,
    /// How long the lease lasts without renewal.
    pub lease_ms: u64,
    /// Its RPC address (`host:port`), for TaskManagers.
    pub rpc_address: String,
    /// Its REST address (`host:port`), for standbys forwarding REST calls.
    pub rest_address: String,
}

impl LeaderRecord {
    /// Whether the lease ran out at `now_ms` (or has no holder).
    pub fn expired(&self, now_ms: u64) -> bool {
        self.holder.is_empty() || now_ms > self.renewed_ms.saturating_add(self.lease_ms)
    }
}

/// The state a job record keeps (Flink's names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RecordedState {
    /// Runs (or is to be resumed by a new leader).
    Running,
    /// Ended by itself.
    Finished,
    /// Failed for good.
    Failed,
    /// Cancelled, or stopped with a savepoint.
    Canceled,
}

impl RecordedState {
    /// Whether the job ended.
    pub fn is_terminal(self) -> bool {
        self != RecordedState::Running
    }
}

/// What a new leader needs to know of one job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    /// Job id.
    pub id: String,
    /// Job name.
    pub name: String,
    /// Its spec, when small enough to be kept here ([`INLINE_SPEC_BYTES`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<JobSpec>,
    /// Where a larger spec is stored (under `ha.dir`, else the job's checkpoint storage).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec_location: Option<String>,
    /// How records written before job specs named the job.
    #[serde(flatten, skip_serializing)]
    pub legacy: LegacyJob,
    /// Running, or how it ended.
    pub state: RecordedState,
    /// Why it failed.
    #[serde(default)]
    pub error: Option<String>,
    /// When it was submitted (ms since the Unix epoch).
    pub submitted_ms: u64,
    /// When it ended.
    #[serde(default)]
    pub ended_ms: Option<u64>,
    /// The next checkpoint id to use: ids never repeat across leaders.
    pub checkpoint_counter: u64,
    /// Where the job resumes: its latest completed checkpoint, else the snapshot it started from.
    #[serde(default)]
    pub resume_from: Option<String>,
    /// Whether a resumed job may skip state its operators no longer have.
    #[serde(default)]
    pub allow_non_restored_state: bool,
}

/// A spec larger than this (as JSON) is stored beside the records, not in them: a Kubernetes object
/// holds at most 1 MiB, and the records of every job of a cluster share one ConfigMap.
pub const INLINE_SPEC_BYTES: usize = 16 << 10;

/// A job as records of ferroflink 0.1 named it: a built-in job and its command line.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct LegacyJob {
    /// The job's name.
    #[serde(default)]
    pub builtin: Option<String>,
    /// Its arguments, execution flags included.
    #[serde(default)]
    pub args: Vec<String>,
}

/// The job records of a cluster and the epoch allowed to write them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct JobRecords {
    /// The epoch of the leader allowed to write.
    pub fence: u64,
    /// By job id.
    pub jobs: BTreeMap<String, JobRecord>,
}

/// A record's version, for compare-and-set (a counter, or a Kubernetes resourceVersion).
pub type Version = String;

/// Durable storage of the leader record and the job records, with compare-and-set: a write names
/// the version it read (`None`: the record must not exist yet) and returns `false`, writing
/// nothing, when the record changed since.
pub trait HaStore: Send + Sync {
    /// Where the records live, for messages.
    fn describe(&self) -> String;
    /// The leader record and its version.
    fn read_leader(&self) -> Result<Option<(LeaderRecord, Version)>>;
    /// Writes the leader record if it is still at `expected`.
    fn write_leader(&self, record: &LeaderRecord, expected: Option<&Version>) -> Result<bool>;
    /// The job records and their version.
    fn read_jobs(&self) -> Result<Option<(JobRecords, Version)>>;
    /// Writes the job records if they are still at `expected`.
    fn write_jobs(&self, records: &JobRecords, expected: Option<&Version>) -> Result<bool>;
}

/// Leader election and job records over a [`HaStore`].
pub struct HaServices {
    store: Box<dyn HaStore>,
    identity: String,
    lease: Duration,
}

/// How often a compare-and-set is retried after conflicts before giving up.
const CAS_ATTEMPTS: usize = 20;

impl HaServices {
    /// The HA services `config` asks for (`None` with `ha.mode: none`), for a process known as
    /// `identity` (unique among the JobManagers of the cluster).
    pub fn from_config(config: &Config, identity: &str) -> Result<Option<HaServices>> {
        let cluster_id = config.ha.cluster_id.clone().or_else(|| config.job.id.clone()).unwrap_or("default".into());
        let store: Box<dyn HaStore> = match config.ha.mode {
            HaMode::None => return Ok(None),
            HaMode::File => {
                let dir = config.ha.dir.as_deref().ok_or_else(|| {
                    Error::Config("ha.mode file needs ha.dir, a directory every JobManager shares".into())
                })?;
                Box::new(file::FileStore::open(std::path::Path::new(dir), &cluster_id)?)
            }
            HaMode::Kubernetes => {
                Box::new(kubernetes::KubernetesStore::connect(config.ha.namespace.clone(), &cluster_id)?)
            }
        };
        Ok(Some(HaServices::new(store, identity, config.ha.lease_duration)))
    }

    /// HA services over `store`.
    pub fn new(store: Box<dyn HaStore>, identity: &str, lease: Duration) -> HaServices {
        HaServices { store, identity: identity.to_string(), lease: lease.max(Duration::from_millis(300)) }
    }

    /// This process's identity.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// How long a lease lasts without renewal.
    pub fn lease_duration(&self) -> Duration {
        self.lease
    }

    /// Where the records live.
    pub fn describe(&self) -> String {
        self.store.describe()
    }

    /// The current leader, unless its lease ran out.
    pub fn leader(&self) -> Result<Option<LeaderRecord>> {
        Ok(self.store.read_leader()?.map(|(l, _)| l).filter(|l| !l.expired(now_ms())))
    }

    /// Tries once to lead: takes the lease when it is free or expired (or already this process's)
    /// with the next epoch, and raises the job records' fence to it. Returns the epoch, or `None`
    /// while another JobManager leads.
    pub fn try_acquire(&self, rpc_address: &str, rest_address: &str) -> Result<Option<u64>> {
        let now = now_ms();
        let current = self.store.read_leader()?;
        let (epoch, version) = match &current {
            Some((l, _)) if l.holder != self.identity && !l.expired(now) => return Ok(None),
            Some((l, v)) => (l.epoch + 1, Some(v)),
            None => (1, None),
        };
        let record = LeaderRecord {
            holder: self.identity.clone(),
            epoch,
            renewed_ms: now,
            lease_ms: self.lease.as_millis() as u64,
            rpc_address: rpc_address.to_string(),
            rest_address: rest_address.to_string(),
        };
        if !self.store.write_leader(&record, version)? {
            return Ok(None);
        }
        match self.modify_jobs(|records| {
            if records.fence > epoch {
                return Err(Error::Fenced { epoch, current: records.fence });
            }
            records.fence = epoch;
            Ok(())
        }) {
            Ok(()) => Ok(Some(epoch)),
            Err(Error::Fenced { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Renews the lease of `epoch`. `false`: it is lost (another JobManager leads, or the lease
    /// ran out and was taken).
    pub fn renew(&self, epoch: u64) -> Result<bool> {
        for _ in 0..CAS_ATTEMPTS {
            let Some((mut record, version)) = self.store.read_leader()? else { return Ok(false) };
            // Another holder or epoch leads, or this one gave the lease up (`release`).
            if record.holder != self.identity || record.epoch != epoch || record.renewed_ms == 0 {
                return Ok(false);
            }
            record.renewed_ms = now_ms();
            if self.store.write_leader(&record, Some(&version))? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Gives the lease up (a JobManager shutting down), so a standby need not wait for it to expire.
    pub fn release(&self, epoch: u64) -> Result<()> {
        if let Some((mut record, version)) = self.store.read_leader()?
            && record.holder == self.identity
            && record.epoch == epoch
        {
            record.renewed_ms = 0;
            self.store.write_leader(&record, Some(&version))?;
        }
        Ok(())
    }

    /// The job records.
    pub fn jobs(&self) -> Result<JobRecords> {
        Ok(self.store.read_jobs()?.map(|(r, _)| r).unwrap_or_default())
    }

    /// Changes the record of job `id` (or creates it from `f(None)`) as the leader of `epoch`;
    /// refused with [`Error::Fenced`] once another epoch leads.
    pub fn update_job(&self, epoch: u64, id: &str, f: impl Fn(Option<&JobRecord>) -> Option<JobRecord>) -> Result<()> {
        self.modify_jobs(|records| {
            if records.fence != epoch {
                return Err(Error::Fenced { epoch, current: records.fence });
            }
            match f(records.jobs.get(id)) {
                Some(r) => records.jobs.insert(id.to_string(), r),
                None => records.jobs.remove(id),
            };
            Ok(())
        })
    }

    fn modify_jobs(&self, f: impl Fn(&mut JobRecords) -> Result<()>) -> Result<()> {
        for _ in 0..CAS_ATTEMPTS {
            let (mut records, version) = match self.store.read_jobs()? {
                Some((r, v)) => (r, Some(v)),
                None => (JobRecords::default(), None),
            };
            f(&mut records)?;
            if self.store.write_jobs(&records, version.as_ref())? {
                return Ok(());
            }
        }
        Err(Error::Cluster(format!(
            "the job records at {} kept changing under {CAS_ATTEMPTS} attempts to write them",
            self.store.describe()
        )))
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn record(id: &str) -> JobRecord {
        JobRecord {
            id: id.into(),
            name: "n".into(),
            spec: Some(JobSpec::registered("b", &[])),
            spec_location: None,
            legacy: LegacyJob::default(),
            state: RecordedState::Running,
            error: None,
            submitted_ms: 1,
            ended_ms: None,
            checkpoint_counter: 1,
            resume_from: None,
            allow_non_restored_state: false,
        }
    }

    fn services(dir: &std::path::Path, who: &str, lease: Duration) -> HaServices {
        HaServices::new(Box::new(file::FileStore::open(dir, "c1").unwrap()), who, lease)
    }

    #[test]
    fn records_of_ferroflink_0_1_still_read() {
        let old = r#"{"id":"j","name":"nexmark q1","builtin":"nexmark","args":["--query","q1","--parallelism","2"],
            "state":"RUNNING","submitted_ms":1,"checkpoint_counter":4}"#;
        let r: JobRecord = serde_json::from_str(old).unwrap();
        assert_eq!((r.legacy.builtin.as_deref(), r.legacy.args.len(), r.spec.as_ref()), (Some("nexmark"), 4, None));
        let written = serde_json::to_string(&record("k")).unwrap();
        assert!(!written.contains("builtin") && written.contains(r#""spec":{"#), "{written}");
    }

    #[test]
    fn file_store_one_leader_and_a_deposed_leader_cannot_write() {
        let dir = tempdir("deposed");
        let lease = Duration::from_millis(400);
        leadership_and_fencing(|who| services(&dir, who, lease), lease);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Two JobManagers `a` and `b` on one store (from `make`): one leads, the other takes over
    /// when the lease runs out, and the deposed one can neither renew nor write.
    pub(crate) fn leadership_and_fencing(make: impl Fn(&str) -> HaServices, lease: Duration) {
        let a = make("a");
        let b = make("b");
        let ea = a.try_acquire("a:6123", "a:8081").unwrap().expect("a leads");
        assert_eq!(ea, 1);
        assert_eq!(b.try_acquire("b:6123", "b:8081").unwrap(), None, "b must wait while a's lease runs");
        assert!(a.renew(ea).unwrap());
        a.update_job(ea, "j", |_| Some(record("j"))).unwrap();
        let leader = b.leader().unwrap().unwrap();
        assert_eq!((leader.rpc_address.as_str(), leader.rest_address.as_str()), ("a:6123", "a:8081"));

        // a stops renewing (frozen); b takes over with the next epoch.
        std::thread::sleep(lease + Duration::from_millis(200));
        let eb = b.try_acquire("b:6123", "b:8081").unwrap().expect("b leads after the lease ran out");
        assert_eq!(eb, 2);
        assert_eq!(a.leader().unwrap().unwrap().holder, "b");

        // a wakes up: its renewal fails and its commits are refused.
        assert!(!a.renew(ea).unwrap());
        let err = a
            .update_job(ea, "j", |r| {
                let mut r = r.cloned()?;
                r.resume_from = Some("chk-9".into());
                Some(r)
            })
            .unwrap_err();
        assert!(matches!(err, Error::Fenced { epoch: 1, current: 2 }), "{err}");
        assert!(err.to_string().contains("epoch 2 leads now"), "{err}");
        assert_eq!(b.jobs().unwrap().jobs["j"].resume_from, None, "the stale write changed nothing");
        assert_eq!(a.try_acquire("a:6123", "a:8081").unwrap(), None, "b's lease runs");

        // The new leader writes; a released lease is taken at once.
        b.update_job(eb, "j", |r| r.cloned().map(|r| JobRecord { state: RecordedState::Finished, ..r })).unwrap();
        assert_eq!(a.jobs().unwrap().jobs["j"].state, RecordedState::Finished);
        b.release(eb).unwrap();
        assert_eq!(a.try_acquire("a:6123", "a:8081").unwrap(), Some(3));
        assert!(!b.renew(eb).unwrap());
    }

    #[test]
    fn racing_candidates_win_distinct_epochs() {
        let dir = tempdir("race");
        let lease = Duration::from_secs(30);
        let winners: Vec<Option<u64>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|i| {
                    let dir = &dir;
                    s.spawn(move || services(dir, &format!("jm-{i}"), lease).try_acquire("x:1", "x:2").unwrap())
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(winners.iter().flatten().count(), 1, "exactly one candidate leads: {winners:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn tempdir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("ff-ha-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
