//! Incremental checkpoints of the RocksDB backend: a checkpoint uploads only the table (SST) files
//! that the checkpoint it builds on does not hold, and refers to the others.
//!
//! ```text
//! <dir>/<job id>/shared/<instance>-<checkpoint>-<n>.sst   table files, shared by checkpoints
//! <dir>/<job id>/chk-<n>/<operator id>-<subtask>.db/...   the rest of the database (MANIFEST,
//!                                                          CURRENT, OPTIONS), private to chk-<n>
//! ```
//!
//! A table file is immutable and named once per upload, so a name is never written twice. The
//! coordinator counts, per shared file, the retained checkpoints that list it plus the checkpoints in
//! flight whose base lists it, and deletes the file when the count drops to zero. A checkpoint's base
//! is the newest completed checkpoint of the same job directory when it was triggered (carried in
//! its barrier), so files are only referenced while something holds them. Savepoints never use
//! this: they are canonical and self-contained.

use crate::snapshot::StateKind;
use crate::storage::CheckpointStorage;
use ferroflink_core::error::{Error, Result};
use ferroflink_core::keygroup::KeyGroupRange;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One file of a RocksDB database in a checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DbFile {
    /// Its name in the database directory.
    pub name: String,
    /// Where it is stored: relative to the job's `shared/` directory (table files) or to the
    /// checkpoint directory (the others).
    pub path: String,
    /// Size in bytes.
    pub bytes: u64,
}

/// A column family: one declared keyed state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DbState {
    /// The state's name (the column family's).
    pub name: String,
    /// Its kind.
    pub kind: StateKind,
}

/// What `_metadata` records of an operator instance's RocksDB database.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncrementalHandle {
    /// The column families.
    pub states: Vec<DbState>,
    /// Table files in the job's `shared/` directory.
    pub shared: Vec<DbFile>,
    /// The other files, in the checkpoint's directory.
    pub private: Vec<DbFile>,
    /// The format of the values in the database ([`crate::snapshot::VALUE_FORMAT`]; absent: 1).
    #[serde(default = "first_format")]
    pub format: u8,
}

fn first_format() -> u8 {
    1
}

/// A local directory deleted when dropped: the hard-linked RocksDB checkpoint a snapshot uploads.
#[derive(Debug)]
pub struct LocalDir(pub PathBuf);

impl Drop for LocalDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An incremental snapshot of one operator instance, on its way to storage.
#[derive(Debug)]
pub struct IncrementalSnapshot {
    /// The database's files at the checkpoint (hard links), deleted once stored.
    pub dir: LocalDir,
    /// What `_metadata` will record.
    pub handle: IncrementalHandle,
    /// Names of the shared files this checkpoint uploads; the others the base already holds.
    pub upload: Vec<String>,
}

impl IncrementalSnapshot {
    /// Stores the snapshot: new table files under `shared`, the other files under `<prefix>/` in
    /// `private`. Returns the handle with the private paths filled in and the bytes uploaded. On
    /// failure the table files it uploaded are deleted again.
    pub fn store(
        mut self,
        shared: &Arc<dyn CheckpointStorage>,
        private: &Arc<dyn CheckpointStorage>,
        prefix: &str,
    ) -> Result<(IncrementalHandle, u64)> {
        let mut uploaded: Vec<String> = Vec::new();
        let result = (|| {
            let mut bytes = 0;
            for f in self.handle.shared.iter().filter(|f| self.upload.contains(&f.name)) {
                shared.write(&f.path, &read_local(&self.dir.0, &f.name)?)?;
                uploaded.push(f.path.clone());
                bytes += f.bytes;
            }
            for f in &mut self.handle.private {
                f.path = format!("{prefix}/{}", f.name);
                private.write(&f.path, &read_local(&self.dir.0, &f.name)?)?;
                bytes += f.bytes;
            }
            Ok(bytes)
        })();
        match result {
            Ok(bytes) => Ok((self.handle, bytes)),
            Err(e) => {
                for path in uploaded {
                    let _ = shared.delete(&path);
                }
                Err(e)
            }
        }
    }
}

fn read_local(dir: &Path, name: &str) -> Result<Vec<u8>> {
    let path = dir.join(name);
    std::fs::read(&path).map_err(|e| Error::io(format!("cannot read '{}' for a checkpoint", path.display()), e))
}

/// An operator instance's database in a snapshot being restored.
#[derive(Clone, Debug)]
pub struct RestoredDb {
    /// The checkpoint it belongs to.
    pub checkpoint_id: u64,
    /// Key groups the old instance owned.
    pub key_groups: KeyGroupRange,
    /// Its files.
    pub handle: IncrementalHandle,
    /// The checkpoint's directory.
    pub private: Arc<dyn CheckpointStorage>,
    /// The job's `shared/` directory.
    pub shared: Arc<dyn CheckpointStorage>,
}

impl RestoredDb {
    /// Copies every file of the database into `dir` (created).
    pub fn download(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::io(format!("cannot create the restore directory '{}'", dir.display()), e))?;
        let files = self.handle.shared.iter().map(|f| (&self.shared, f));
        for (storage, f) in files.chain(self.handle.private.iter().map(|f| (&self.private, f))) {
            let bytes = storage.read(&f.path)?;
            if bytes.len() as u64 != f.bytes {
                return Err(Error::CorruptSnapshot(format!(
                    "'{}' has {} bytes but the checkpoint recorded {}; restore from another checkpoint or savepoint",
                    storage.location(&f.path),
                    bytes.len(),
                    f.bytes
                )));
            }
            let path = dir.join(&f.name);
            std::fs::write(&path, bytes)
                .map_err(|e| Error::io(format!("cannot write '{}' while restoring", path.display()), e))?;
        }
        Ok(())
    }

    /// Whether every file exists, or the first that does not.
    pub fn check_files(&self) -> Result<()> {
        if self.handle.format != crate::snapshot::VALUE_FORMAT {
            return Err(Error::Checkpoint(format!(
                "the RocksDB files of checkpoint {} at '{}' hold state in format {}, this build reads format {}: \
                 restore from a savepoint (savepoints of format 1 are converted) or start the job without state",
                self.checkpoint_id,
                self.private.location(""),
                self.handle.format,
                crate::snapshot::VALUE_FORMAT
            )));
        }
        let files = self.handle.shared.iter().map(|f| (&self.shared, f));
        for (storage, f) in files.chain(self.handle.private.iter().map(|f| (&self.private, f))) {
            if !storage.exists(&f.path)? {
                return Err(Error::CorruptSnapshot(format!(
                    "'{}' is missing: the checkpoint at '{}' is incomplete; restore from another checkpoint or \
                     savepoint",
                    storage.location(&f.path),
                    self.private.location("")
                )));
            }
        }
        Ok(())
    }
}

/// A shared file as the coordinator tracks it.
#[derive(Clone, Debug)]
pub struct SharedFile {
    /// The `shared/` directory it is in.
    pub dir: Arc<dyn CheckpointStorage>,
    /// Its path there.
    pub path: String,
}

impl SharedFile {
    fn key(&self) -> String {
        self.dir.location(&self.path)
    }
}

/// Reference counts of shared files: retained checkpoints that list them plus checkpoints in
/// flight whose base lists them. A file is deleted when its count drops to zero.
#[derive(Debug, Default)]
pub struct SharedRegistry {
    refs: HashMap<String, usize>,
}

impl SharedRegistry {
    /// Counts one more holder of each file.
    pub fn acquire(&mut self, files: &[SharedFile]) {
        for f in files {
            *self.refs.entry(f.key()).or_default() += 1;
        }
    }

    /// Counts one holder less of each file, deleting the ones nothing holds any more.
    pub fn release(&mut self, files: &[SharedFile]) {
        for f in files {
            let key = f.key();
            if let Some(n) = self.refs.get_mut(&key) {
                *n -= 1;
                if *n == 0 {
                    self.refs.remove(&key);
                    delete(f);
                }
            }
        }
    }

    /// Deletes the files nothing holds: what a checkpoint that did not complete uploaded.
    pub fn discard_unheld(&self, files: &[SharedFile]) {
        for f in files.iter().filter(|f| !self.refs.contains_key(&f.key())) {
            delete(f);
        }
    }

    /// Number of files held.
    pub fn len(&self) -> usize {
        self.refs.len()
    }

    /// Whether no file is held.
    pub fn is_empty(&self) -> bool {
        self.refs.is_empty()
    }
}

fn delete(f: &SharedFile) {
    if let Err(e) = f.dir.delete(&f.path) {
        tracing::warn!("cannot delete the shared checkpoint file '{}': {e}", f.dir.location(&f.path));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::LocalStorage;

    #[test]
    fn shared_files_are_deleted_when_the_last_holder_releases_them() {
        let root = std::env::temp_dir().join(format!("ff-shared-registry-{}", std::process::id()));
        let dir: Arc<dyn CheckpointStorage> = Arc::new(LocalStorage::new(root.to_str().unwrap()));
        let file = |p: &str| SharedFile { dir: dir.clone(), path: p.to_string() };
        for p in ["a", "b", "c"] {
            dir.write(p, b"x").unwrap();
        }
        let mut reg = SharedRegistry::default();
        reg.acquire(&[file("a"), file("b")]); // checkpoint 1
        reg.acquire(&[file("b")]); // checkpoint 2 in flight with base 1
        reg.discard_unheld(&[file("b"), file("c")]); // checkpoint 3 aborted: its new file c goes
        assert!(!dir.exists("c").unwrap() && dir.exists("b").unwrap());
        reg.release(&[file("a"), file("b")]); // checkpoint 1 subsumed
        assert!(!dir.exists("a").unwrap() && dir.exists("b").unwrap(), "b is still held by checkpoint 2");
        reg.release(&[file("b")]);
        assert!(!dir.exists("b").unwrap() && reg.is_empty());
        let _ = std::fs::remove_dir_all(root);
    }
}
