//! The canonical snapshot of an operator instance's state: the form in which state leaves a backend
//! for a checkpoint or savepoint and enters one on restore, whatever the backend.
//!
//! Keyed state is a list of entries `(key group, key bytes, namespace bytes, value bytes)` per
//! declared state, all in the engine codec ([`ferroflink_core::codec`]), sorted by key group so a
//! restore at another parallelism takes exactly the groups it owns. A value entry holds the value
//! with its TTL expiry; a list entry the list; a map entry the map; a timer entry one timer. Operator
//! (non-keyed) state is a list of encoded elements per declared list with its redistribution rule.

use crate::operator::Distribution;
use ferroflink_core::codec::{decode, encode, encode_into};
use ferroflink_core::error::{Error, Result};
use ferroflink_core::keygroup::{KeyGroupRange, key_group_for_bytes};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// What kind of state a snapshot entry list belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StateKind {
    /// Value state (also reducing and aggregating state).
    Value,
    /// List state.
    List,
    /// Map state.
    Map,
    /// Event- and processing-time timers.
    Timers,
}

impl std::fmt::Display for StateKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StateKind::Value => "value state",
            StateKind::List => "list state",
            StateKind::Map => "map state",
            StateKind::Timers => "timer service",
        })
    }
}

/// One key and namespace of one keyed state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyedEntry {
    /// The key's group.
    pub key_group: u16,
    /// Codec bytes of the key.
    pub key: Vec<u8>,
    /// Codec bytes of the namespace.
    pub namespace: Vec<u8>,
    /// Codec bytes of the value (see the module documentation).
    pub value: Vec<u8>,
}

/// All entries of one declared keyed state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyedStateSnapshot {
    /// The state's name, unique within the operator.
    pub name: String,
    /// Its kind; a restore declaring another kind under the same name is refused.
    pub kind: StateKind,
    /// Entries ordered by key group.
    pub entries: Vec<KeyedEntry>,
    /// Whether the values are in format 1 (a TTL expiry after the value; see [`VALUE_FORMAT`]):
    /// the backend converts them when the operator declares the state and its types are known.
    #[serde(skip)]
    pub legacy: bool,
}

/// The format of keyed values in snapshots and RocksDB: 2 puts the TTL expiry in front of the
/// value ([`crate::ttl`]); 1 (before) wrote it after the value and lists as one sequence.
pub const VALUE_FORMAT: u8 = 2;

/// All elements of one declared operator list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorListSnapshot {
    /// The list's name.
    pub name: String,
    /// How it is redistributed on rescale.
    pub distribution: Distribution,
    /// Codec bytes of each element.
    pub elements: Vec<Vec<u8>>,
}

/// The state of one operator instance at a checkpoint.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorSubtaskState {
    /// Keyed states.
    pub keyed: Vec<KeyedStateSnapshot>,
    /// Operator lists.
    pub operator: Vec<OperatorListSnapshot>,
}

impl OperatorSubtaskState {
    /// Whether the operator declares no state at all (an empty list, such as a source with no
    /// splits left, is state).
    pub fn declares_nothing(&self) -> bool {
        self.keyed.is_empty() && self.operator.is_empty()
    }

    /// Keeps only the keyed entries of `range`.
    pub fn retain_key_groups(&mut self, range: KeyGroupRange) {
        for s in &mut self.keyed {
            s.entries.retain(|e| range.contains(e.key_group as usize));
        }
    }
}

/// Encodes entries of a table keyed by `K` with namespaces `N` and slots `S`.
pub(crate) struct EntryEncoder {
    max_parallelism: usize,
    key: Vec<u8>,
    pub entries: Vec<KeyedEntry>,
}

impl EntryEncoder {
    pub fn new(max_parallelism: usize) -> Self {
        EntryEncoder { max_parallelism, key: Vec::new(), entries: Vec::new() }
    }

    /// Starts a key; its group is computed once for all its namespaces.
    pub fn key<K: Serialize>(&mut self, key: &K) -> Result<u16> {
        self.key.clear();
        encode_into(key, &mut self.key)?;
        Ok(key_group_for_bytes(&self.key, self.max_parallelism) as u16)
    }

    /// Adds an entry of the current key.
    pub fn push<N: Serialize, V: Serialize + ?Sized>(&mut self, key_group: u16, ns: &N, value: &V) -> Result<()> {
        let mut bytes = Vec::new();
        encode_into(value, &mut bytes)?;
        self.entries.push(KeyedEntry { key_group, key: self.key.clone(), namespace: encode(ns)?, value: bytes });
        Ok(())
    }

    /// Adds an entry of the current key whose value is encoded already.
    pub fn push_encoded<N: Serialize>(&mut self, key_group: u16, ns: &N, value: Vec<u8>) -> Result<()> {
        self.entries.push(KeyedEntry { key_group, key: self.key.clone(), namespace: encode(ns)?, value });
        Ok(())
    }

    /// The entries, ordered by key group (stable: a key's entries keep their order).
    pub fn finish(mut self) -> Vec<KeyedEntry> {
        self.entries.sort_by_key(|e| e.key_group);
        self.entries
    }
}

/// Reads an LEB128 `u64` off the front of `bytes`: the value and the bytes it took.
pub(crate) fn leb128(bytes: &[u8]) -> Result<(u64, usize)> {
    let mut n = 0u64;
    for (i, &b) in bytes.iter().enumerate().take(10) {
        n |= u64::from(b & 0x7f) << (7 * i);
        if b < 0x80 {
            return Ok((n, i + 1));
        }
    }
    Err(Error::Codec("truncated length or expiry in stored state".into()))
}

/// Appends `bytes` with its LEB128 length in front.
pub(crate) fn push_len_prefixed(buf: &mut Vec<u8>, bytes: &[u8]) {
    let mut n = bytes.len();
    while n >= 0x80 {
        buf.push((n as u8) | 0x80);
        n >>= 7;
    }
    buf.push(n as u8);
    buf.extend_from_slice(bytes);
}

/// Takes a length-prefixed part off the front of `bytes`: the part and the rest.
pub(crate) fn take_len_prefixed(bytes: &[u8]) -> Result<(&[u8], &[u8])> {
    let (n, used) = leb128(bytes)?;
    let end = usize::try_from(n).ok().and_then(|n| n.checked_add(used)).filter(|&end| end <= bytes.len());
    let end = end.ok_or_else(|| Error::Codec("truncated length-prefixed bytes in stored state".into()))?;
    Ok((&bytes[used..end], &bytes[end..]))
}

/// The length of the encoding of a `T` at the front of `bytes` (a map row's user key).
pub(crate) fn encoded_len<T: DeserializeOwned>(bytes: &[u8]) -> Result<usize> {
    let (_, rest) = postcard::take_from_bytes::<T>(bytes).map_err(|e| Error::Codec(e.to_string()))?;
    Ok(bytes.len() - rest.len())
}

/// The error for a snapshot entry's `what` (key, namespace, value) that does not decode.
pub(crate) fn undecodable(state: &str, what: &str, err: Error) -> Error {
    Error::Codec(format!(
        "state '{state}': the stored {what} does not decode as the declared type ({err}); the job's state types \
         changed since the snapshot was taken"
    ))
}

/// Decodes an entry into its key, namespace and value.
pub(crate) fn decode_entry<K: DeserializeOwned, N: DeserializeOwned, V: DeserializeOwned>(
    state: &str,
    e: &KeyedEntry,
) -> Result<(K, N, V)> {
    let bad = |what: &str, err: Error| undecodable(state, what, err);
    let key = decode(&e.key).map_err(|err| bad("key", err))?;
    let ns = decode(&e.namespace).map_err(|err| bad("namespace", err))?;
    let value = decode(&e.value).map_err(|err| bad("value", err))?;
    Ok((key, ns, value))
}

/// A state table a backend can write to and fill from canonical entries.
pub(crate) trait SnapshotTable {
    /// Appends every entry.
    fn snapshot(&self, enc: &mut EntryEncoder) -> Result<()>;
    /// Inserts the entries of a snapshot of the state (all of groups this instance owns).
    fn restore(&self, snapshot: &KeyedStateSnapshot) -> Result<()>;
}

/// A list of operator state as the store snapshots and restores it.
pub(crate) trait SnapshotList {
    /// The encoded elements.
    fn snapshot(&self) -> Result<Vec<Vec<u8>>>;
    /// Appends decoded elements of list `name`.
    fn restore(&self, name: &str, elements: &[Vec<u8>]) -> Result<()>;
}
