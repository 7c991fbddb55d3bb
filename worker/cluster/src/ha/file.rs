//! HA records in a directory every JobManager of a cluster shares (local clusters and tests):
//! `<ha.dir>/<cluster-id>/leader.json` and `jobs.json`, each `{"version": n, "record": ...}`,
//! replaced atomically (write, sync, rename) under an exclusive lock of `lock`, which makes each
//! read-compare-write one step across processes.

use crate::ha::{HaStore, JobRecords, LeaderRecord, Version};
use ferroflink_core::error::{Error, Result};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// HA records in a shared directory.
#[derive(Debug)]
pub struct FileStore {
    dir: PathBuf,
}

#[derive(Serialize, Deserialize)]
struct Versioned<T> {
    version: u64,
    record: T,
}

const LEADER: &str = "leader.json";
const JOBS: &str = "jobs.json";

impl FileStore {
    /// The records of cluster `cluster_id` under `dir` (created if missing).
    pub fn open(dir: &Path, cluster_id: &str) -> Result<FileStore> {
        let dir = dir.join(cluster_id);
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::io(format!("cannot create the HA directory {}", dir.display()), e))?;
        Ok(FileStore { dir })
    }

    /// Runs `f` holding the directory's lock.
    fn locked<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        let path = self.dir.join("lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(format!("cannot open the HA lock {}", path.display()), e))?;
        lock.lock().map_err(|e| Error::io(format!("cannot lock {}", path.display()), e))?;
        let result = f();
        let _ = lock.unlock();
        result
    }

    fn read<T: DeserializeOwned>(&self, name: &str) -> Result<Option<Versioned<T>>> {
        let path = self.dir.join(name);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                Error::CorruptSnapshot(format!(
                    "the HA record {} is unreadable ({e}); restore it from a backup or delete it, which makes the \
                     next leader start its jobs afresh",
                    path.display()
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(format!("cannot read the HA record {}", path.display()), e)),
        }
    }

    fn compare_and_set<T: Serialize + DeserializeOwned>(
        &self,
        name: &str,
        record: &T,
        expected: Option<&Version>,
    ) -> Result<bool> {
        self.locked(|| {
            let current = self.read::<T>(name)?.map(|v| v.version);
            if current.map(|v| v.to_string()).as_ref() != expected {
                return Ok(false);
            }
            let next = Versioned { version: current.unwrap_or(0) + 1, record };
            let bytes = serde_json::to_vec_pretty(&next).map_err(|e| Error::Internal(e.to_string()))?;
            let path = self.dir.join(name);
            let tmp = self.dir.join(format!(".{name}.tmp"));
            let write = || -> std::io::Result<()> {
                let mut f = File::create(&tmp)?;
                f.write_all(&bytes)?;
                f.sync_all()?;
                std::fs::rename(&tmp, &path)?;
                File::open(&self.dir)?.sync_all()
            };
            write().map_err(|e| Error::io(format!("cannot write the HA record {}", path.display()), e))?;
            Ok(true)
        })
    }

    fn get<T: DeserializeOwned>(&self, name: &str) -> Result<Option<(T, Version)>> {
        self.locked(|| Ok(self.read::<T>(name)?.map(|v| (v.record, v.version.to_string()))))
    }
}

impl HaStore for FileStore {
    fn describe(&self) -> String {
        self.dir.display().to_string()
    }

    fn read_leader(&self) -> Result<Option<(LeaderRecord, Version)>> {
        self.get(LEADER)
    }

    fn write_leader(&self, record: &LeaderRecord, expected: Option<&Version>) -> Result<bool> {
        self.compare_and_set(LEADER, record, expected)
    }

    fn read_jobs(&self) -> Result<Option<(JobRecords, Version)>> {
        self.get(JOBS)
    }

    fn write_jobs(&self, records: &JobRecords, expected: Option<&Version>) -> Result<bool> {
        self.compare_and_set(JOBS, records, expected)
    }
}
