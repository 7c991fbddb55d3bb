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

/// Storage rooted at the snapshot at `path`: a checkpoint or savepoint directory, or its
/// `_metadata` file.
pub fn snapshot_storage(path: &str, s3: &S3Config) -> Result<Arc<dyn CheckpointStorage>> {
    let dir = path.trim_end_matches('/');
    storage::open(dir.strip_suffix(METADATA_FILE).unwrap_or(dir).trim_end_matches('/'), s3)
}

/// The `_metadata` of the snapshot rooted at `storage`.
pub fn read_metadata(storage: &dyn CheckpointStorage) -> Result<CheckpointMetadata> {
    let location = storage.location(METADATA_FILE);
    if !storage.exists(METADATA_FILE)? {
        return Err(Error::CorruptSnapshot(format!(
            "'{location}' does not exist: the checkpoint is incomplete or the path is wrong; restore from a \
             directory chk-<n> (or a savepoint directory) that has a _metadata file"
        )));
    }
    CheckpointMetadata::from_bytes(&storage.read(METADATA_FILE)?, &location)
}

/// An operator named in a [`RestoreVerdict`].
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OperatorRef {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
}

/// What restoring a snapshot into a job does to each operator, matched by id (Flink's rules):
/// state that restores; state no operator of the job takes (`lost`: a restore refuses it unless
/// dropping it is allowed); operators of the job the snapshot does not know (`fresh`: they start
/// without state); and operators whose number of key groups changed (`rekeyed`: never allowed).
/// An operator that held no state in the snapshot loses nothing when it goes.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RestoreVerdict {
    /// Operators whose state restores.
    pub restored: Vec<OperatorRef>,
    /// State that no operator of the job takes.
    pub lost: Vec<OperatorRef>,
    /// Operators the snapshot does not know: new ones, and (in SQL, whose ids derive from the
    /// plan) changed ones.
    pub fresh: Vec<OperatorRef>,
    /// Why an operator's state cannot restore at all (its key groups changed).
    pub rekeyed: Vec<String>,
}

impl RestoreVerdict {
    /// The verdict for restoring `metadata` into a job with `operators` `(id, name, max
    /// parallelism)`.
    pub fn of<'a>(metadata: &CheckpointMetadata, operators: impl Iterator<Item = (&'a str, &'a str, usize)>) -> Self {
        let operators: Vec<_> = operators.collect();
        let reference = |id: &str, name: &str| OperatorRef { id: id.to_string(), name: name.to_string() };
        let mut verdict = RestoreVerdict::default();
        for op in &metadata.operators {
            let has_state = !op.subtasks.is_empty();
            match operators.iter().find(|(id, _, _)| *id == op.operator_id) {
                None if has_state => verdict.lost.push(reference(&op.operator_id, &op.name)),
                None => {}
                Some((_, name, max)) if has_state && *max != op.max_parallelism => verdict.rekeyed.push(format!(
                    "operator '{name}' (id {}) was snapshotted with max parallelism {} but the job now has {max}; \
                     max parallelism (the number of key groups) cannot change across a restore",
                    op.operator_id, op.max_parallelism
                )),
                Some((id, name, _)) if has_state => verdict.restored.push(reference(id, name)),
                Some(_) => {}
            }
        }
        for (id, name, _) in operators {
            if metadata.operator(id).is_none() {
                verdict.fresh.push(reference(id, name));
            }
        }
        verdict
    }

    /// Whether a restore goes through: nothing rekeyed, and nothing lost unless `allow_lost`
    /// (`allowNonRestoredState`).
    pub fn compatible(&self, allow_lost: bool) -> bool {
        self.rekeyed.is_empty() && (self.lost.is_empty() || allow_lost)
    }
}

impl std::fmt::Display for RestoreVerdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let list = |ops: &[OperatorRef]| ops.iter().map(|o| format!("'{}' (id {})", o.name, o.id)).collect::<Vec<_>>();
        writeln!(f, "restores the state of {} operator(s)", self.restored.len())?;
        for op in list(&self.restored) {
            writeln!(f, "  restored: {op}")?;
        }
        for op in list(&self.lost) {
            writeln!(f, "  LOSES STATE: {op}: the job has no operator with its id (removed, or changed)")?;
        }
        for why in &self.rekeyed {
            writeln!(f, "  CANNOT RESTORE: {why}")?;
        }
        for op in list(&self.fresh) {
            writeln!(f, "  starts without state: {op} (new, or changed)")?;
        }
        Ok(())
    }
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
        Self::from_storage(snapshot_storage(&settings.path, s3)?, settings.mode, settings.allow_non_restored_state)
    }

    /// Reads the metadata of the snapshot rooted at `storage`.
    pub fn from_storage(storage: Arc<dyn CheckpointStorage>, mode: RestoreMode, allow: bool) -> Result<Self> {
        let metadata = read_metadata(storage.as_ref())?;
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

    /// Checks that the snapshot fits a job with these operators `(id, name, max parallelism)`
    /// (see [`RestoreVerdict`]).
    pub fn check_fits<'a>(&self, operators: impl Iterator<Item = (&'a str, &'a str, usize)>) -> Result<()> {
        let verdict = RestoreVerdict::of(&self.metadata, operators);
        if let Some(rekeyed) = verdict.rekeyed.first() {
            return Err(Error::InvalidJob(rekeyed.clone()));
        }
        for op in &verdict.lost {
            if !self.allow_non_restored_state {
                return Err(Error::InvalidJob(format!(
                    "the snapshot at '{}' has state for operator '{}' (id {}), which the job does not have; \
                     give the operator the same uid as before, or pass --allow-non-restored-state to drop it",
                    self.location(),
                    op.name,
                    op.id
                )));
            }
            tracing::warn!(operator = %op.name, id = %op.id, "dropping state of an operator the job no longer has");
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::metadata::{OperatorStateMeta, SnapshotKind, SubtaskStateHandle};

    fn op(id: &str, stateful: bool, max: usize) -> OperatorStateMeta {
        let handle = SubtaskStateHandle {
            subtask: 0,
            key_groups: KeyGroupRange { start: 0, end: max - 1 },
            file: format!("{id}-0"),
            bytes: 10,
            checksum: "0".into(),
            has_operator_state: false,
            rocksdb: None,
        };
        OperatorStateMeta {
            operator_id: id.into(),
            name: format!("op {id}"),
            parallelism: 1,
            max_parallelism: max,
            subtasks: if stateful { vec![handle] } else { Vec::new() },
        }
    }

    #[test]
    fn a_verdict_restores_by_id_and_names_lost_fresh_and_rekeyed_operators() {
        let metadata = CheckpointMetadata {
            version: 1,
            kind: SnapshotKind::Savepoint,
            job_id: "j".into(),
            job_name: "j".into(),
            checkpoint_id: 3,
            timestamp_ms: 0,
            finished: false,
            operators: vec![
                op("agg", true, 128),
                op("calc", false, 128),
                op("window", true, 128),
                op("rank", true, 64),
            ],
            enumerators: Vec::new(),
        };
        // The window's definition changed (its id with it), the calc was edited, the rank keeps
        // its id but not its key groups.
        let job = [("agg", "Agg", 128), ("calc2", "Calc", 128), ("window2", "Window", 128), ("rank", "Rank", 128)];
        let verdict = RestoreVerdict::of(&metadata, job.into_iter());
        let ids = |ops: &[OperatorRef]| ops.iter().map(|o| o.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&verdict.restored), ["agg"]);
        assert_eq!(ids(&verdict.lost), ["window"], "a stateless operator that went loses nothing");
        assert_eq!(ids(&verdict.fresh), ["calc2", "window2"]);
        assert_eq!(verdict.rekeyed.len(), 1);
        assert!(verdict.rekeyed[0].contains("'Rank' (id rank)") && verdict.rekeyed[0].contains("max parallelism 64"));
        assert!(!verdict.compatible(true) && !verdict.compatible(false));
        let text = verdict.to_string();
        assert!(
            text.contains("LOSES STATE: 'op window' (id window)") && text.contains("starts without state: 'Window'")
        );

        let same_keys = [("agg", "Agg", 128), ("rank", "Rank", 64)];
        let verdict = RestoreVerdict::of(&metadata, same_keys.into_iter());
        assert!(verdict.compatible(true) && !verdict.compatible(false), "{verdict}");
        let all = [("agg", "Agg", 128), ("window", "Window", 128), ("rank", "Rank", 64)];
        assert!(RestoreVerdict::of(&metadata, all.into_iter()).compatible(false));
    }
}
