//! The checkpoint format (version 1), the same for checkpoints and savepoints of the heap backend:
//!
//! ```text
//! <dir>/_metadata                  JSON, written last: a checkpoint without it does not exist
//! <dir>/<operator id>-<subtask>    one file per operator instance that has state
//! ```
//!
//! `_metadata` lists, per operator id, its parallelism and max parallelism and, per subtask, its
//! file (relative to `<dir>`, so the directory can be moved), key-group range, size and xxHash64.
//! A state file is the magic `FFST`, a version byte, the postcard encoding of an
//! [`OperatorSubtaskState`] (the canonical form, see [`ferroflink_state::snapshot`]) and the xxHash64
//! (seed 0, little endian) of everything before it. Readers refuse versions they do not know.
//!
//! An incremental RocksDB checkpoint adds, per instance, the database's files (`rocksdb` in the
//! subtask's entry): table files in the job's `shared/` directory, the rest under
//! `<operator id>-<subtask>.db/` in the checkpoint's; see [`ferroflink_state::incremental`].

use ferroflink_core::codec;
use ferroflink_core::error::{Error, Result};
use ferroflink_core::keygroup::KeyGroupRange;
use ferroflink_state::incremental::IncrementalHandle;
use ferroflink_state::snapshot::OperatorSubtaskState;
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh64::xxh64;

/// Name of the metadata file in a checkpoint or savepoint directory.
pub const METADATA_FILE: &str = "_metadata";
/// Version of the metadata and state-file format this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
const STATE_MAGIC: &[u8; 4] = b"FFST";
/// 2: keyed values in [`ferroflink_state::snapshot::VALUE_FORMAT`] 2 (1 is still read).
const STATE_VERSION: u8 = 2;

/// Checkpoint or savepoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SnapshotKind {
    /// Periodic, owned by the job (retention deletes it).
    Checkpoint,
    /// Triggered by the user, owned by the user.
    Savepoint,
}

/// One operator instance's state file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubtaskStateHandle {
    /// Subtask index at the time of the snapshot.
    pub subtask: usize,
    /// Key groups it owned.
    pub key_groups: KeyGroupRange,
    /// File name relative to the checkpoint directory.
    pub file: String,
    /// File size in bytes.
    pub bytes: u64,
    /// xxHash64 of the whole file, hex.
    pub checksum: String,
    /// Whether it holds operator (non-keyed) state, which every restored instance may need.
    pub has_operator_state: bool,
    /// The instance's RocksDB database, in an incremental checkpoint (the file then holds only
    /// the timers and the operator state); see [`ferroflink_state::incremental`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rocksdb: Option<IncrementalHandle>,
}

/// The state of one operator in a snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorStateMeta {
    /// Stable operator id (from `uid`, else from the topology).
    pub operator_id: String,
    /// Operator name, for messages.
    pub name: String,
    /// Parallelism at the time of the snapshot.
    pub parallelism: usize,
    /// Number of key groups (cannot change across restores).
    pub max_parallelism: usize,
    /// Instances that had state.
    pub subtasks: Vec<SubtaskStateHandle>,
}

impl OperatorStateMeta {
    /// The bytes of its state in the snapshot: its state files and, in an incremental snapshot,
    /// the files of its RocksDB databases (shared ones included).
    pub fn state_size(&self) -> u64 {
        let db = |h: &IncrementalHandle| h.shared.iter().chain(&h.private).map(|f| f.bytes).sum::<u64>();
        self.subtasks.iter().map(|s| s.bytes + s.rocksdb.as_ref().map_or(0, db)).sum()
    }
}

/// Contents of `_metadata`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointMetadata {
    /// Format version.
    pub version: u32,
    /// Checkpoint or savepoint.
    pub kind: SnapshotKind,
    /// Job id.
    pub job_id: String,
    /// Job name.
    pub job_name: String,
    /// Checkpoint id (checkpoints and savepoints share the sequence).
    pub checkpoint_id: u64,
    /// When it was triggered (ms since the epoch).
    pub timestamp_ms: i64,
    /// Whether every task had finished: restoring it finishes the job at once.
    pub finished: bool,
    /// Operators with state.
    pub operators: Vec<OperatorStateMeta>,
    /// The sources' split enumerators (snapshots of jobs without sources, or older ones, have none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub enumerators: Vec<EnumeratorState>,
}

/// The state of one source's split enumerator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnumeratorState {
    /// The source's operator id.
    pub operator_id: String,
    /// Its state in the engine codec, as hex digits.
    pub state: String,
}

impl EnumeratorState {
    /// The state `bytes` of source `operator_id`.
    pub fn new(operator_id: &str, bytes: &[u8]) -> Self {
        EnumeratorState {
            operator_id: operator_id.to_string(),
            state: bytes.iter().map(|b| format!("{b:02x}")).collect(),
        }
    }

    /// The state's bytes.
    pub fn bytes(&self) -> Result<Vec<u8>> {
        let digits = self.state.as_bytes();
        if !digits.len().is_multiple_of(2) {
            return Err(self.corrupt());
        }
        digits
            .chunks(2)
            .map(|pair| {
                std::str::from_utf8(pair)
                    .ok()
                    .and_then(|p| u8::from_str_radix(p, 16).ok())
                    .ok_or_else(|| self.corrupt())
            })
            .collect()
    }

    fn corrupt(&self) -> Error {
        Error::CorruptSnapshot(format!(
            "the split enumerator state of source {} is not hex digits; restore from another checkpoint or savepoint",
            self.operator_id
        ))
    }
}

impl CheckpointMetadata {
    /// The JSON written to `_metadata`.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        serde_json::to_vec_pretty(self).map_err(|e| Error::Codec(format!("cannot encode checkpoint metadata: {e}")))
    }

    /// Parses `_metadata`, refusing unknown versions.
    pub fn from_bytes(bytes: &[u8], location: &str) -> Result<Self> {
        #[derive(Deserialize)]
        struct Version {
            version: u32,
        }
        let version: Version = serde_json::from_slice(bytes).map_err(|e| corrupt(location, &e.to_string()))?;
        if version.version != FORMAT_VERSION {
            return Err(Error::Checkpoint(format!(
                "'{location}' has format version {}, this build reads version {FORMAT_VERSION}",
                version.version
            )));
        }
        serde_json::from_slice(bytes).map_err(|e| corrupt(location, &e.to_string()))
    }

    /// The operator with id `operator_id`.
    pub fn operator(&self, operator_id: &str) -> Option<&OperatorStateMeta> {
        self.operators.iter().find(|o| o.operator_id == operator_id)
    }

    /// The enumerator state of source `operator_id`.
    pub fn enumerator(&self, operator_id: &str) -> Option<&EnumeratorState> {
        self.enumerators.iter().find(|e| e.operator_id == operator_id)
    }
}

fn corrupt(location: &str, why: &str) -> Error {
    Error::CorruptSnapshot(format!("'{location}' is corrupt ({why}); restore from another checkpoint or savepoint"))
}

/// Encodes a state file; returns the bytes and their checksum.
pub fn encode_state_file(state: &OperatorSubtaskState) -> Result<(Vec<u8>, u64)> {
    let mut bytes = STATE_MAGIC.to_vec();
    bytes.push(STATE_VERSION);
    codec::encode_into(state, &mut bytes)?;
    let sum = xxh64(&bytes, 0);
    bytes.extend_from_slice(&sum.to_le_bytes());
    let checksum = xxh64(&bytes, 0);
    Ok((bytes, checksum))
}

/// Decodes a state file read from `location`, checking its handle's size and checksum.
pub fn decode_state_file(bytes: &[u8], handle: &SubtaskStateHandle, location: &str) -> Result<OperatorSubtaskState> {
    if bytes.len() as u64 != handle.bytes || format!("{:016x}", xxh64(bytes, 0)) != handle.checksum {
        return Err(corrupt(
            location,
            &format!(
                "{} bytes with another checksum than the {} bytes recorded in _metadata",
                bytes.len(),
                handle.bytes
            ),
        ));
    }
    if bytes.len() < 13 || &bytes[..4] != STATE_MAGIC {
        return Err(corrupt(location, "not a state file"));
    }
    let version = bytes[4];
    if !(1..=STATE_VERSION).contains(&version) {
        return Err(Error::Checkpoint(format!(
            "'{location}' has state format version {version}, this build reads versions 1 to {STATE_VERSION}"
        )));
    }
    let (body, sum) = bytes.split_at(bytes.len() - 8);
    if xxh64(body, 0).to_le_bytes() != sum {
        return Err(corrupt(location, "checksum mismatch"));
    }
    let mut state: OperatorSubtaskState = codec::decode(&body[5..]).map_err(|e| corrupt(location, &e.to_string()))?;
    // Version 1 wrote keyed values in format 1; the backends convert them once the types are known.
    for keyed in &mut state.keyed {
        keyed.legacy = version == 1;
    }
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferroflink_state::operator::Distribution;
    use ferroflink_state::snapshot::OperatorListSnapshot;

    #[test]
    fn state_files_round_trip_and_detect_corruption() {
        let state = OperatorSubtaskState {
            keyed: Vec::new(),
            operator: vec![OperatorListSnapshot {
                name: "splits".into(),
                distribution: Distribution::Split,
                elements: vec![vec![1, 2, 3]],
            }],
        };
        let (bytes, sum) = encode_state_file(&state).unwrap();
        let handle = SubtaskStateHandle {
            subtask: 0,
            key_groups: KeyGroupRange { start: 0, end: 127 },
            file: "x-0".into(),
            bytes: bytes.len() as u64,
            checksum: format!("{sum:016x}"),
            has_operator_state: true,
            rocksdb: None,
        };
        assert_eq!(decode_state_file(&bytes, &handle, "x-0").unwrap(), state);
        let mut bad = bytes.clone();
        bad[7] ^= 1;
        let e = decode_state_file(&bad, &handle, "x-0").unwrap_err().to_string();
        assert!(e.contains("corrupt") && e.contains("x-0"), "{e}");
        let e = decode_state_file(&bytes[..10], &handle, "x-0").unwrap_err().to_string();
        assert!(e.contains("corrupt"), "{e}");
    }

    #[test]
    fn metadata_refuses_other_versions() {
        let m = CheckpointMetadata {
            version: FORMAT_VERSION,
            kind: SnapshotKind::Savepoint,
            job_id: "j".into(),
            job_name: "n".into(),
            checkpoint_id: 3,
            timestamp_ms: 0,
            finished: false,
            operators: Vec::new(),
            enumerators: vec![EnumeratorState::new("src", &[0, 7, 255])],
        };
        assert_eq!(m.enumerator("src").unwrap().bytes().unwrap(), [0, 7, 255]);
        let bytes = m.to_bytes().unwrap();
        assert_eq!(CheckpointMetadata::from_bytes(&bytes, "m").unwrap(), m);
        let future = String::from_utf8(bytes).unwrap().replace("\"version\": 1", "\"version\": 9");
        assert!(CheckpointMetadata::from_bytes(future.as_bytes(), "m").unwrap_err().to_string().contains("version 9"));
        assert!(CheckpointMetadata::from_bytes(b"{", "m").unwrap_err().to_string().contains("corrupt"));
    }
}
