//! Restoring a job from a checkpoint or savepoint, at any parallelism.
//!
//! Keyed state moves by key groups: a new instance reads the files of the old instances whose
//! key-group ranges overlap its own and keeps the groups it owns. Operator lists follow their
//! declaration: a `Split` list keeps its instance when the parallelism is unchanged and is otherwise
//! dealt out round robin in old-instance order; a `Union` list goes whole to every instance.
//! Operators are matched by id; state of an operator the job no longer has is refused unless the
//! user allows dropping it.

use crate::checkpoint::coordinator::SHARED_DIR;
use crate::checkpoint::metadata::{CheckpointMetadata, METADATA_FILE, decode_state_file};
use ferroflink_core::error::{Error, Result};
use ferroflink_core::keygroup::KeyGroupRange;
use ferroflink_state::incremental::{RestoredDb, SharedFile};
use ferroflink_state::operator::Distribution;
use ferroflink_state::s3::S3Config;
use ferroflink_state::snapshot::{KeyedStateSnapshot, OperatorListSnapshot, OperatorSubtaskState};
use ferroflink_state::storage::{self, CheckpointStorage};
use std::sync::Arc;

/// How a restore treats the files it restores from (Flink's restore modes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum RestoreMode {
    /// The snapshot stays the user's: never modified or deleted; the job writes its own checkpoints.
    #[default]
    NoClaim,
    /// The job takes ownership: a restored checkpoint is deleted by retention like its own.
    Claim,
}

/// What to restore and how.
#[derive(Clone, Debug)]
pub struct RestoreSettings {
    /// A checkpoint or savepoint directory, or its `_metadata` file.
    pub path: String,
    /// Claim or no-claim.
    pub mode: RestoreMode,
    /// Skip state of operators (or states) the job no longer has.
    pub allow_non_restored_state: bool,
}

/// A loaded snapshot the tasks of a job restore from.
#[derive(Debug)]
pub struct RestoredSnapshot {
    /// Its metadata.
    pub metadata: CheckpointMetadata,
    /// Storage rooted at its directory.
    pub storage: Arc<dyn CheckpointStorage>,
    /// Skip state the job no longer declares.
    pub allow_non_restored_state: bool,
    /// Claim mode.
    pub mode: RestoreMode,
}

impl RestoredSnapshot {
    /// Reads the snapshot's metadata (`s3` says how to reach `s3://` locations).
    pub fn load(settings: &RestoreSettings, s3: &S3Config) -> Result<Self> {
        let dir = settings.path.trim_end_matches('/');
        let dir = dir.strip_suffix(METADATA_FILE).unwrap_or(dir).trim_end_matches('/');
        let storage = storage::open(dir, s3)?;
        Self::from_storage(storage, settings.mode, settings.allow_non_restored_state)
    }

    /// Reads the metadata of the snapshot rooted at `storage`.
    pub fn from_storage(storage: Arc<dyn CheckpointStorage>, mode: RestoreMode, allow: bool) -> Result<Self> {
        let location = storage.location(METADATA_FILE);
        if !storage.exists(METADATA_FILE)? {
            return Err(Error::CorruptSnapshot(format!(
                "'{location}' does not exist: the checkpoint is incomplete or the path is wrong; restore from a \
                 directory chk-<n> (or a savepoint directory) that has a _metadata file"
            )));
        }
        let metadata = CheckpointMetadata::from_bytes(&storage.read(METADATA_FILE)?, &location)?;
        let restored = RestoredSnapshot { metadata, storage, allow_non_restored_state: allow, mode };
        for op in &restored.metadata.operators {
            for db in restored.restored_dbs(&op.operator_id, KeyGroupRange { start: 0, end: op.max_parallelism - 1 }) {
                db.check_files()?;
            }
        }
        let (metadata, storage) = (&restored.metadata, &restored.storage);
        for handle in metadata.operators.iter().flat_map(|o| &o.subtasks) {
            if !storage.exists(&handle.file)? {
                return Err(Error::CorruptSnapshot(format!(
                    "'{}' is missing: the snapshot at '{}' is incomplete; restore from another checkpoint or savepoint",
                    storage.location(&handle.file),
                    storage.location("")
                )));
            }
        }
        Ok(restored)
    }

    /// The databases of incremental RocksDB checkpoints that instances of `operator_id` whose key
    /// groups overlap `range` had.
    pub fn restored_dbs(&self, operator_id: &str, range: KeyGroupRange) -> Vec<RestoredDb> {
        let Some(op) = self.metadata.operator(operator_id) else { return Vec::new() };
        let shared = self.storage.parent().scoped(SHARED_DIR);
        op.subtasks
            .iter()
            .filter(|h| h.key_groups.start <= range.end && range.start <= h.key_groups.end)
            .filter_map(|h| {
                Some(RestoredDb {
                    checkpoint_id: self.metadata.checkpoint_id,
                    key_groups: h.key_groups,
                    handle: h.rocksdb.clone()?,
                    private: self.storage.clone(),
                    shared: shared.clone(),
                })
            })
            .collect()
    }

    /// Every shared file the snapshot lists (for claim mode, where the job deletes them once no
    /// checkpoint of its own needs them).
    pub fn shared_files(&self) -> Vec<SharedFile> {
        let shared = self.storage.parent().scoped(SHARED_DIR);
        let handles = self.metadata.operators.iter().flat_map(|o| &o.subtasks).filter_map(|h| h.rocksdb.as_ref());
        handles.flat_map(|h| &h.shared).map(|f| SharedFile { dir: shared.clone(), path: f.path.clone() }).collect()
    }

    /// Where it is, as the user gave it.
    pub fn location(&self) -> String {
        self.storage.location("")
    }

    /// Checks that the snapshot fits a job with these operators `(id, name, max parallelism)`.
    pub fn check_fits<'a>(&self, operators: impl Iterator<Item = (&'a str, &'a str, usize)>) -> Result<()> {
        let operators: Vec<_> = operators.collect();
        for op in &self.metadata.operators {
            match operators.iter().find(|(id, _, _)| *id == op.operator_id) {
                None if self.allow_non_restored_state => {
                    tracing::warn!(operator = %op.name, id = %op.operator_id, "dropping state of an operator the job no longer has");
                }
                None => {
                    return Err(Error::InvalidJob(format!(
                        "the snapshot at '{}' has state for operator '{}' (id {}), which the job does not have; \
                         give the operator the same uid as before, or pass --allow-non-restored-state to drop it",
                        self.location(),
                        op.name,
                        op.operator_id
                    )));
                }
                Some((_, name, max)) if *max != op.max_parallelism => {
                    return Err(Error::InvalidJob(format!(
                        "operator '{name}' (id {}) was snapshotted with max parallelism {} but the job now has {max}; \
                         max parallelism (the number of key groups) cannot change across a restore",
                        op.operator_id, op.max_parallelism
                    )));
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// The state instance `index` of `parallelism` of operator `operator_id` restores, or `None`
    /// if the snapshot has none for it. `range` is the instance's key groups.
    pub fn subtask_state(
        &self,
        operator_id: &str,
        parallelism: usize,
        index: usize,
        range: KeyGroupRange,
    ) -> Result<Option<OperatorSubtaskState>> {
        let Some(op) = self.metadata.operator(operator_id) else { return Ok(None) };
        let mut keyed: Vec<KeyedStateSnapshot> = Vec::new();
        let mut lists: Vec<(OperatorListSnapshot, Vec<Vec<Vec<u8>>>)> = Vec::new();
        for handle in &op.subtasks {
            let overlaps = handle.key_groups.start <= range.end && range.start <= handle.key_groups.end;
            if !overlaps && !handle.has_operator_state {
                continue;
            }
            let location = self.storage.location(&handle.file);
            let mut state = decode_state_file(&self.storage.read(&handle.file)?, handle, &location)?;
            state.retain_key_groups(range);
            for s in state.keyed {
                match keyed.iter_mut().find(|k| k.name == s.name) {
                    Some(k) => k.entries.extend(s.entries),
                    None => keyed.push(s),
                }
            }
            for l in state.operator {
                let per_old_subtask = match lists.iter_mut().find(|(k, _)| k.name == l.name) {
                    Some((_, v)) => v,
                    None => {
                        let empty = OperatorListSnapshot { elements: Vec::new(), ..l.clone() };
                        lists.push((empty, vec![Vec::new(); op.parallelism]));
                        &mut lists.last_mut().expect("pushed").1
                    }
                };
                if let Some(slot) = per_old_subtask.get_mut(handle.subtask) {
                    *slot = l.elements;
                }
            }
        }
        for k in &mut keyed {
            k.entries.sort_by_key(|e| e.key_group);
        }
        let operator = lists
            .into_iter()
            .map(|(mut list, per_old)| {
                list.elements = match list.distribution {
                    Distribution::Union => per_old.into_iter().flatten().collect(),
                    Distribution::Split if op.parallelism == parallelism => {
                        per_old.into_iter().nth(index).unwrap_or_default()
                    }
                    Distribution::Split => per_old
                        .into_iter()
                        .flatten()
                        .enumerate()
                        .filter(|(j, _)| j % parallelism == index)
                        .map(|(_, e)| e)
                        .collect(),
                };
                list
            })
            .collect();
        Ok(Some(OperatorSubtaskState { keyed, operator }))
    }
}
