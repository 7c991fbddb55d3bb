//! The RocksDB state backend: keyed state of one operator instance in an embedded RocksDB, one
//! column family per declared state, so state larger than memory spills to local disk.
//!
//! Keys are `[key group: u16 big endian][key][namespace]` (map state appends the user key), all in
//! the engine codec, whose encodings are self-delimiting: a key group's rows are one contiguous
//! range, and a key's rows one prefix. Values are stored exactly as the canonical snapshot encodes
//! them ([`crate::state::snapshot`]), so a snapshot is a scan that splits keys and copies values,
//! and a restore writes rows back; savepoints move between this backend and the heap backend.
//!
//! Memory: every instance in a process (a TaskManager) shares one LRU block cache and one write
//! buffer manager charged to it ([`RocksDbResources`]), so the budget holds however many
//! operators the process runs. The write-ahead log is off (checkpoints are the durability).
//! Timers stay on the heap and are snapshotted with the state.

use super::snapshot::{KeyedEntry, KeyedStateSnapshot, SnapshotTable, StateKind};
use super::ttl::{Stamped, Ttl};
use super::{ListStateBackend, MapStateBackend, StateDescriptor, Timers, ValueStateBackend, duplicate_state};
use crate::error::{Error, Result};
use crate::record::{Data, Key};
use crate::runtime::codec::{decode, encode_into};
use crate::state::Namespace;
use crate::state::keygroup::key_group_for_bytes;
use crate::time::clock::Clock;
use rocksdb::{
    BlockBasedOptions, Cache, DB, DBCompressionType, Direction, IteratorMode, Options, WriteBatch, WriteBufferManager,
    WriteOptions,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::cell::RefCell;
use std::marker::PhantomData;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Settings of the RocksDB backend.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RocksDbConfig {
    /// Where instances keep their working files (deleted when the instance closes).
    pub local_dir: PathBuf,
    /// Memory for all instances of the process: block cache plus write buffers.
    pub memory_bytes: usize,
    /// Share of `memory_bytes` the write buffers (memtables) may use.
    pub write_buffer_ratio_percent: usize,
    /// Data block size.
    pub block_size: usize,
    /// Background flush and compaction threads per instance.
    pub background_jobs: i32,
    /// Compress SST files with LZ4.
    pub compression: bool,
}

impl Default for RocksDbConfig {
    fn default() -> Self {
        RocksDbConfig {
            local_dir: std::env::temp_dir().join("ferroflink-rocksdb"),
            memory_bytes: 256 << 20,
            write_buffer_ratio_percent: 50,
            block_size: 16 << 10,
            background_jobs: 2,
            compression: true,
        }
    }
}

/// The memory budget shared by every RocksDB instance of a process.
pub struct RocksDbResources {
    config: RocksDbConfig,
    cache: Cache,
    write_buffers: WriteBufferManager,
}

/// Numbers instance directories uniquely within the process.
static NEXT_INSTANCE: AtomicU64 = AtomicU64::new(0);

impl std::fmt::Debug for RocksDbResources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RocksDbResources({:?})", self.config)
    }
}

impl RocksDbResources {
    /// One block cache of `memory_bytes` and write buffers charged to it.
    pub fn new(config: RocksDbConfig) -> Arc<Self> {
        let cache = Cache::new_lru_cache(config.memory_bytes.max(8 << 20));
        let buffers = config.memory_bytes * config.write_buffer_ratio_percent.clamp(5, 90) / 100;
        let write_buffers = WriteBufferManager::new_write_buffer_manager_with_cache(buffers, false, cache.clone());
        Arc::new(RocksDbResources { config, cache, write_buffers })
    }

    fn options(&self) -> Options {
        let mut table = BlockBasedOptions::default();
        table.set_block_cache(&self.cache);
        table.set_block_size(self.config.block_size);
        table.set_cache_index_and_filter_blocks(true);
        table.set_bloom_filter(10.0, false);
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        opts.set_block_based_table_factory(&table);
        opts.set_write_buffer_manager(&self.write_buffers);
        opts.set_max_background_jobs(self.config.background_jobs);
        opts.set_compression_type(if self.config.compression {
            DBCompressionType::Lz4
        } else {
            DBCompressionType::None
        });
        opts
    }
}

fn db_error(what: &str, e: rocksdb::Error) -> Error {
    Error::io(format!("RocksDB: cannot {what}"), std::io::Error::other(e.into_string()))
}

/// The database of one operator instance, opened at its first declared state.
struct Instance {
    db: DB,
    dir: PathBuf,
    write: WriteOptions,
    options: Options,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

type Shared = Rc<RefCell<Option<Instance>>>;

/// Lengths of the key and the namespace at the start of a row key (after the key group).
type SplitKey = fn(&[u8]) -> Result<(usize, usize)>;
/// Length of the user key at the start of a canonical map value.
type UserKeyLen = fn(&[u8]) -> Result<usize>;
/// Ties a typed view to its key, namespace and value types.
type Marker<K, N, V> = PhantomData<fn() -> (K, N, V)>;

/// How a state's rows are split back into key, namespace and (for maps) user key.
struct Layout {
    cf: String,
    kind: StateKind,
    split: SplitKey,
    user_key: Option<UserKeyLen>,
}

fn prefix_len<T: DeserializeOwned>(bytes: &[u8]) -> Result<usize> {
    let (_, rest) = postcard::take_from_bytes::<T>(bytes).map_err(|e| Error::Codec(e.to_string()))?;
    Ok(bytes.len() - rest.len())
}

fn split<K: DeserializeOwned, N: DeserializeOwned>(bytes: &[u8]) -> Result<(usize, usize)> {
    let k = prefix_len::<K>(bytes)?;
    Ok((k, prefix_len::<N>(&bytes[k..])?))
}

/// The RocksDB backend of one operator instance.
pub struct RocksDbKeyedStateBackend {
    resources: Arc<RocksDbResources>,
    instance: Shared,
    name: String,
    max_parallelism: usize,
    clock: Arc<dyn Clock>,
    states: Vec<Layout>,
    timers: Vec<(String, Rc<dyn SnapshotTable>)>,
    restored: Vec<KeyedStateSnapshot>,
}

impl RocksDbKeyedStateBackend {
    /// A backend for instance `name` (operator id and subtask) that fills each state from
    /// `restored` when the operator declares it.
    pub fn new(
        resources: Arc<RocksDbResources>,
        name: &str,
        max_parallelism: usize,
        clock: Arc<dyn Clock>,
        restored: Vec<KeyedStateSnapshot>,
    ) -> Self {
        RocksDbKeyedStateBackend {
            resources,
            instance: Rc::new(RefCell::new(None)),
            name: name.to_string(),
            max_parallelism,
            clock,
            states: Vec::new(),
            timers: Vec::new(),
            restored,
        }
    }

    fn declared(&self, name: &str) -> bool {
        self.states.iter().any(|s| s.cf == name) || self.timers.iter().any(|(n, _)| n == name)
    }

    fn take_restored(&mut self, name: &str, kind: StateKind) -> Result<Option<KeyedStateSnapshot>> {
        let Some(pos) = self.restored.iter().position(|s| s.name == name) else { return Ok(None) };
        let snapshot = self.restored.swap_remove(pos);
        if snapshot.kind != kind {
            return Err(Error::InvalidJob(format!(
                "state '{name}' is a {} in the snapshot but the job declares it as a {kind}",
                snapshot.kind
            )));
        }
        Ok(Some(snapshot))
    }

    fn open_instance(&self) -> Result<()> {
        let mut slot = self.instance.borrow_mut();
        if slot.is_some() {
            return Ok(());
        }
        let n = NEXT_INSTANCE.fetch_add(1, Ordering::Relaxed);
        let dir = self.resources.config.local_dir.join(format!("{}-{}-{n}", self.name, std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::io(format!("cannot create the RocksDB directory '{}'", dir.display()), e))?;
        let options = self.resources.options();
        let db = DB::open(&options, &dir).map_err(|e| db_error(&format!("open '{}'", dir.display()), e))?;
        let mut write = WriteOptions::default();
        write.disable_wal(true);
        *slot = Some(Instance { db, dir, write, options });
        Ok(())
    }

    fn declare(
        &mut self,
        desc: &StateDescriptor,
        kind: StateKind,
        split: SplitKey,
        user_key: Option<UserKeyLen>,
    ) -> Result<Handle> {
        if self.declared(&desc.name) {
            return Err(duplicate_state(&desc.name));
        }
        let restored = self.take_restored(&desc.name, kind)?;
        self.open_instance()?;
        {
            let mut slot = self.instance.borrow_mut();
            let inst = slot.as_mut().expect("opened");
            let options = inst.options.clone();
            inst.db
                .create_cf(&desc.name, &options)
                .map_err(|e| db_error(&format!("create state '{}'", desc.name), e))?;
        }
        let layout = Layout { cf: desc.name.clone(), kind, split, user_key };
        if let Some(snapshot) = restored {
            self.restore_rows(&layout, &snapshot.entries)?;
        }
        self.states.push(layout);
        Ok(Handle {
            instance: self.instance.clone(),
            cf: desc.name.clone(),
            max_parallelism: self.max_parallelism,
            ttl: Ttl::new(desc.ttl, self.clock.clone()),
            scratch: RefCell::new(Vec::new()),
        })
    }

    fn restore_rows(&self, layout: &Layout, entries: &[KeyedEntry]) -> Result<()> {
        let slot = self.instance.borrow();
        let inst = slot.as_ref().expect("opened");
        let cf = inst.db.cf_handle(&layout.cf).expect("created");
        let mut batch = WriteBatch::default();
        let mut key = Vec::new();
        for e in entries {
            key.clear();
            key.extend_from_slice(&e.key_group.to_be_bytes());
            key.extend_from_slice(&e.key);
            key.extend_from_slice(&e.namespace);
            let value = match layout.user_key {
                Some(user_key) => {
                    let n = user_key(&e.value)?;
                    key.extend_from_slice(&e.value[..n]);
                    &e.value[n..]
                }
                None => &e.value[..],
            };
            batch.put_cf(cf, &key, value);
            if batch.len() >= 10_000 {
                inst.db.write_opt(std::mem::take(&mut batch), &inst.write).map_err(|e| db_error("restore", e))?;
            }
        }
        inst.db.write_opt(batch, &inst.write).map_err(|e| db_error("restore", e))
    }

    pub(super) fn value<K: Key, V: Data, N: Namespace>(
        &mut self,
        desc: &StateDescriptor,
    ) -> Result<Box<dyn ValueStateBackend<K, N, V>>> {
        let handle = self.declare(desc, StateKind::Value, split::<K, N>, None)?;
        Ok(Box::new(Typed::<K, N, V> { handle, _t: PhantomData }))
    }

    pub(super) fn list<K: Key, V: Data, N: Namespace>(
        &mut self,
        desc: &StateDescriptor,
    ) -> Result<Box<dyn ListStateBackend<K, N, V>>> {
        let handle = self.declare(desc, StateKind::List, split::<K, N>, None)?;
        Ok(Box::new(Typed::<K, N, V> { handle, _t: PhantomData }))
    }

    pub(super) fn map<K: Key, UK: Key, UV: Data, N: Namespace>(
        &mut self,
        desc: &StateDescriptor,
    ) -> Result<Box<dyn MapStateBackend<K, N, UK, UV>>> {
        let handle = self.declare(desc, StateKind::Map, split::<K, N>, Some(prefix_len::<UK>))?;
        Ok(Box::new(Typed::<K, N, (UK, UV)> { handle, _t: PhantomData }))
    }

    pub(super) fn timers<K: Key, N: Namespace>(&mut self, name: &str) -> Result<Timers<K, N>> {
        if self.declared(name) {
            return Err(duplicate_state(name));
        }
        let timers = Timers::<K, N>::default();
        if let Some(snapshot) = self.take_restored(name, StateKind::Timers)? {
            timers.shared().restore(name, &snapshot.entries)?;
        }
        self.timers.push((name.to_string(), timers.shared()));
        Ok(timers)
    }

    pub(super) fn state_names(&self) -> Vec<String> {
        self.states.iter().map(|s| s.cf.clone()).chain(self.timers.iter().map(|(n, _)| n.clone())).collect()
    }

    pub(super) fn unrestored(&self) -> impl Iterator<Item = &str> {
        self.restored.iter().map(|s| s.name.as_str())
    }

    /// The canonical snapshot: a scan per state in key-group order.
    pub(super) fn snapshot(&self) -> Result<Vec<KeyedStateSnapshot>> {
        let mut out = Vec::new();
        let slot = self.instance.borrow();
        for layout in &self.states {
            let inst = slot.as_ref().expect("a declared state opened the instance");
            let cf = inst.db.cf_handle(&layout.cf).expect("created");
            let mut entries: Vec<KeyedEntry> = Vec::new();
            for row in inst.db.iterator_cf(cf, IteratorMode::Start) {
                let (key, value) = row.map_err(|e| db_error("read state for a snapshot", e))?;
                let key_group = u16::from_be_bytes([key[0], key[1]]);
                let (k, n) = (layout.split)(&key[2..])?;
                let (key_bytes, rest) = key[2..].split_at(k);
                let (ns, user_key) = rest.split_at(n);
                let mut value_bytes = user_key.to_vec();
                value_bytes.extend_from_slice(&value);
                entries.push(KeyedEntry {
                    key_group,
                    key: key_bytes.to_vec(),
                    namespace: ns.to_vec(),
                    value: value_bytes,
                });
            }
            out.push(KeyedStateSnapshot { name: layout.cf.clone(), kind: layout.kind, entries });
        }
        for (name, timers) in &self.timers {
            let mut enc = super::snapshot::EntryEncoder::new(self.max_parallelism);
            timers.snapshot(&mut enc)?;
            out.push(KeyedStateSnapshot { name: name.clone(), kind: StateKind::Timers, entries: enc.finish() });
        }
        Ok(out)
    }
}

/// What every typed state handle holds: the instance, its column family and TTL.
struct Handle {
    instance: Shared,
    cf: String,
    max_parallelism: usize,
    ttl: Ttl,
    scratch: RefCell<Vec<u8>>,
}

impl Handle {
    /// Builds `[key group][key][namespace]` into the scratch buffer and runs `f` on it.
    fn with_key<K: Serialize, N: Serialize, R>(&self, key: &K, ns: &N, f: impl FnOnce(&Instance, &[u8]) -> R) -> R {
        let mut buf = self.scratch.borrow_mut();
        buf.clear();
        buf.extend_from_slice(&[0, 0]);
        encode_into(key, &mut buf).expect("keys encode into memory");
        let group = key_group_for_bytes(&buf[2..], self.max_parallelism) as u16;
        buf[..2].copy_from_slice(&group.to_be_bytes());
        encode_into(ns, &mut buf).expect("namespaces encode into memory");
        let slot = self.instance.borrow();
        f(slot.as_ref().expect("opened"), &buf)
    }

    fn get<T: DeserializeOwned>(&self, inst: &Instance, key: &[u8]) -> Option<T> {
        let cf = inst.db.cf_handle(&self.cf).expect("created");
        let bytes =
            inst.db.get_pinned_cf(cf, key).unwrap_or_else(|e| panic!("RocksDB read of state '{}': {e}", self.cf))?;
        Some(decode(&bytes).unwrap_or_else(|e| panic!("state '{}' holds a value of another type: {e}", self.cf)))
    }

    fn put<T: Serialize>(&self, inst: &Instance, key: &[u8], value: &T) {
        let cf = inst.db.cf_handle(&self.cf).expect("created");
        let mut bytes = Vec::new();
        encode_into(value, &mut bytes).expect("values encode into memory");
        inst.db
            .put_cf_opt(cf, key, bytes, &inst.write)
            .unwrap_or_else(|e| panic!("RocksDB write of state '{}': {e}", self.cf));
    }

    fn delete(&self, inst: &Instance, key: &[u8]) {
        let cf = inst.db.cf_handle(&self.cf).expect("created");
        inst.db.delete_cf_opt(cf, key, &inst.write).unwrap_or_else(|e| panic!("RocksDB delete in '{}': {e}", self.cf));
    }
}

/// A typed view of a column family (`V` is `(UK, UV)` for map state).
struct Typed<K, N, V> {
    handle: Handle,
    _t: Marker<K, N, V>,
}

impl<K: Key, N: Namespace, V: Data> ValueStateBackend<K, N, V> for Typed<K, N, V> {
    fn get(&self, key: &K, ns: &N) -> Option<V> {
        let h = &self.handle;
        h.with_key(key, ns, |inst, k| {
            let mut stamped: Stamped<V> = h.get(inst, k)?;
            if h.ttl.expired(&stamped) {
                h.delete(inst, k);
                return None;
            }
            let before = stamped.expires_at;
            h.ttl.on_read(&mut stamped);
            if stamped.expires_at != before {
                h.put(inst, k, &stamped);
            }
            Some(stamped.value)
        })
    }

    fn put(&self, key: &K, ns: &N, value: V) {
        let h = &self.handle;
        let stamped = h.ttl.stamp(value);
        h.with_key(key, ns, |inst, k| h.put(inst, k, &stamped));
    }

    fn clear(&self, key: &K, ns: &N) {
        let h = &self.handle;
        h.with_key(key, ns, |inst, k| h.delete(inst, k));
    }
}

impl<K: Key, N: Namespace, V: Data> ListStateBackend<K, N, V> for Typed<K, N, V> {
    fn get(&self, key: &K, ns: &N) -> Vec<V> {
        let h = &self.handle;
        h.with_key(key, ns, |inst, k| {
            let Some(mut list): Option<Vec<Stamped<V>>> = h.get(inst, k) else { return Vec::new() };
            let before = list.len();
            list.retain(|s| !h.ttl.expired(s));
            for s in &mut list {
                h.ttl.on_read(s);
            }
            if list.is_empty() {
                h.delete(inst, k);
            } else if list.len() != before || h.ttl.refreshes_on_read() {
                h.put(inst, k, &list);
            }
            list.into_iter().map(|s| s.value).collect()
        })
    }

    fn add(&self, key: &K, ns: &N, value: V) {
        let h = &self.handle;
        let stamped = h.ttl.stamp(value);
        h.with_key(key, ns, |inst, k| {
            let mut list: Vec<Stamped<V>> = h.get(inst, k).unwrap_or_default();
            list.push(stamped);
            h.put(inst, k, &list);
        });
    }

    fn update(&self, key: &K, ns: &N, values: Vec<V>) {
        let h = &self.handle;
        h.with_key(key, ns, |inst, k| {
            if values.is_empty() {
                h.delete(inst, k);
            } else {
                let list: Vec<Stamped<V>> = values.into_iter().map(|v| h.ttl.stamp(v)).collect();
                h.put(inst, k, &list);
            }
        });
    }

    fn clear(&self, key: &K, ns: &N) {
        let h = &self.handle;
        h.with_key(key, ns, |inst, k| h.delete(inst, k));
    }
}

impl<K: Key, N: Namespace, UK: Key, UV: Data> MapStateBackend<K, N, UK, UV> for Typed<K, N, (UK, UV)> {
    fn get(&self, key: &K, ns: &N, user_key: &UK) -> Option<UV> {
        let h = &self.handle;
        h.with_key(key, ns, |inst, prefix| {
            let mut k = prefix.to_vec();
            encode_into(user_key, &mut k).expect("keys encode into memory");
            let mut stamped: Stamped<UV> = h.get(inst, &k)?;
            if h.ttl.expired(&stamped) {
                h.delete(inst, &k);
                return None;
            }
            let before = stamped.expires_at;
            h.ttl.on_read(&mut stamped);
            if stamped.expires_at != before {
                h.put(inst, &k, &stamped);
            }
            Some(stamped.value)
        })
    }

    fn put(&self, key: &K, ns: &N, user_key: UK, value: UV) {
        let h = &self.handle;
        let stamped = h.ttl.stamp(value);
        h.with_key(key, ns, |inst, prefix| {
            let mut k = prefix.to_vec();
            encode_into(&user_key, &mut k).expect("keys encode into memory");
            h.put(inst, &k, &stamped);
        });
    }

    fn remove(&self, key: &K, ns: &N, user_key: &UK) {
        let h = &self.handle;
        h.with_key(key, ns, |inst, prefix| {
            let mut k = prefix.to_vec();
            encode_into(user_key, &mut k).expect("keys encode into memory");
            h.delete(inst, &k);
        });
    }

    fn entries(&self, key: &K, ns: &N) -> Vec<(UK, UV)> {
        let h = &self.handle;
        h.with_key(key, ns, |inst, prefix| {
            let cf = inst.db.cf_handle(&h.cf).expect("created");
            let mut out = Vec::new();
            let mut expired = Vec::new();
            let rows = inst.db.iterator_cf(cf, IteratorMode::From(prefix, Direction::Forward));
            for row in rows {
                let (k, v) = row.unwrap_or_else(|e| panic!("RocksDB scan of state '{}': {e}", h.cf));
                if !k.starts_with(prefix) {
                    break;
                }
                let user_key: UK = decode(&k[prefix.len()..]).unwrap_or_else(|e| panic!("state '{}': {e}", h.cf));
                let stamped: Stamped<UV> = decode(&v).unwrap_or_else(|e| panic!("state '{}': {e}", h.cf));
                if h.ttl.expired(&stamped) {
                    expired.push(k.to_vec());
                } else {
                    out.push((user_key, stamped.value));
                }
            }
            for k in expired {
                h.delete(inst, &k);
            }
            out
        })
    }

    fn clear(&self, key: &K, ns: &N) {
        let h = &self.handle;
        h.with_key(key, ns, |inst, prefix| {
            let cf = inst.db.cf_handle(&h.cf).expect("created");
            let mut batch = WriteBatch::default();
            for row in inst.db.iterator_cf(cf, IteratorMode::From(prefix, Direction::Forward)) {
                let (k, _) = row.unwrap_or_else(|e| panic!("RocksDB scan of state '{}': {e}", h.cf));
                if !k.starts_with(prefix) {
                    break;
                }
                batch.delete_cf(cf, k);
            }
            inst.db.write_opt(batch, &inst.write).unwrap_or_else(|e| panic!("RocksDB delete in '{}': {e}", h.cf));
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::heap::HeapKeyedStateBackend;
    use crate::state::keygroup::{KeyGroupAssigner, KeyGroupRange};
    use crate::state::snapshot::OperatorSubtaskState;
    use crate::state::ttl::StateTtlConfig;
    use crate::state::{KeyedStateBackend, StateDescriptor};
    use crate::time::clock::ManualClock;
    use std::time::Duration;

    fn resources() -> Arc<RocksDbResources> {
        let dir = std::env::temp_dir().join(format!("ff-rocksdb-unit-{}", std::process::id()));
        RocksDbResources::new(RocksDbConfig { local_dir: dir, memory_bytes: 16 << 20, ..RocksDbConfig::default() })
    }

    fn rocks(res: &Arc<RocksDbResources>, clock: &ManualClock, restored: Vec<KeyedStateSnapshot>) -> KeyedStateBackend {
        KeyedStateBackend::RocksDb(RocksDbKeyedStateBackend::new(
            res.clone(),
            "op-0",
            128,
            Arc::new(clock.clone()),
            restored,
        ))
    }

    #[test]
    fn states_behave_like_the_heap_backend() {
        let res = resources();
        let clock = ManualClock::new(1_000);
        let mut b = rocks(&res, &clock, Vec::new());
        let v = b.value_state::<String, u64, ()>(&StateDescriptor::new("v")).unwrap();
        v.put(&"k".into(), 3);
        assert_eq!(v.get(&"k".into()), Some(3));
        assert_eq!(v.get(&"other".into()), None);
        v.clear(&"k".into());
        assert_eq!(v.get(&"k".into()), None);
        let l = b.list_state::<u64, String, i64>(&StateDescriptor::new("l")).unwrap();
        l.add_in(&1, &10, "a".into());
        l.add_in(&1, &10, "b".into());
        l.add_in(&1, &20, "c".into());
        assert_eq!(l.get_in(&1, &10), vec!["a".to_string(), "b".into()]);
        l.update_in(&1, &20, vec![]);
        assert!(l.get_in(&1, &20).is_empty());
        let m = b.map_state::<u64, String, u64, ()>(&StateDescriptor::new("m")).unwrap();
        m.put(&1, "x".into(), 1);
        m.put(&1, "y".into(), 2);
        m.put(&2, "x".into(), 9);
        m.remove(&1, &"x".into());
        assert_eq!(m.entries(&1), vec![("y".to_string(), 2)]);
        assert_eq!(m.get(&2, &"x".into()), Some(9));
        m.clear(&1);
        assert!(m.entries(&1).is_empty());
        assert_eq!(m.entries(&2), vec![("x".to_string(), 9)]);
        let ttl = StateTtlConfig::new(Duration::from_millis(100));
        let t = b.value_state::<u64, u64, ()>(&StateDescriptor::new("ttl").with_ttl(ttl)).unwrap();
        t.put(&1, 1);
        clock.advance(150);
        assert_eq!(t.get(&1), None, "expired");
        assert!(b.value_state::<u64, u64, ()>(&StateDescriptor::new("v")).is_err(), "declared twice");
    }

    #[test]
    fn snapshots_move_between_rocksdb_and_heap_at_other_parallelism() {
        let res = resources();
        let clock = ManualClock::new(0);
        let mut b = rocks(&res, &clock, Vec::new());
        let v = b.value_state::<u64, u64, i64>(&StateDescriptor::new("v")).unwrap();
        let m = b.map_state::<u64, String, u64, ()>(&StateDescriptor::new("m")).unwrap();
        let t = b.timer_service::<u64, ()>("t").unwrap();
        for k in 0..300u64 {
            v.put_in(&k, &(k as i64 % 3), k);
            m.put(&k, format!("a{k}"), k);
            m.put(&k, format!("b{k}"), k + 1);
            t.register_event_time_timer(&k, &(), k as i64);
        }
        let snapshot = OperatorSubtaskState { keyed: b.snapshot().unwrap(), operator: Vec::new() };
        // The heap backend's snapshot of the same contents is the same canonical form.
        let mut h = KeyedStateBackend::Heap(HeapKeyedStateBackend::new(Arc::new(clock.clone()), 128));
        let hv = h.value_state::<u64, u64, i64>(&StateDescriptor::new("v")).unwrap();
        let hm = h.map_state::<u64, String, u64, ()>(&StateDescriptor::new("m")).unwrap();
        for k in 0..300u64 {
            hv.put_in(&k, &(k as i64 % 3), k);
            hm.put(&k, format!("a{k}"), k);
            hm.put(&k, format!("b{k}"), k + 1);
        }
        let sorted = |mut e: Vec<KeyedEntry>| {
            e.sort_by(|a, b| {
                (a.key_group, &a.key, &a.namespace, &a.value).cmp(&(b.key_group, &b.key, &b.namespace, &b.value))
            });
            e
        };
        let heap_snapshot = h.snapshot().unwrap();
        for (r, h) in snapshot.keyed.iter().zip(&heap_snapshot) {
            assert_eq!(sorted(r.entries.clone()), sorted(h.entries.clone()), "state {}", r.name);
        }
        // Restore at parallelism 2: RocksDB into the heap for one half, heap into RocksDB for the other.
        let assigner = KeyGroupAssigner::new(128);
        let mut scratch = Vec::new();
        for index in 0..2 {
            let range = KeyGroupRange::for_operator(128, 2, index);
            let mut part = OperatorSubtaskState {
                keyed: if index == 0 { snapshot.keyed.clone() } else { heap_snapshot.clone() },
                operator: Vec::new(),
            };
            part.retain_key_groups(range);
            let mut target = if index == 0 {
                KeyedStateBackend::Heap(HeapKeyedStateBackend::restoring(Arc::new(clock.clone()), 128, part.keyed))
            } else {
                rocks(&res, &clock, part.keyed)
            };
            let v = target.value_state::<u64, u64, i64>(&StateDescriptor::new("v")).unwrap();
            let m = target.map_state::<u64, String, u64, ()>(&StateDescriptor::new("m")).unwrap();
            if index == 0 {
                let t = target.timer_service::<u64, ()>("t").unwrap();
                let mut fired = 0;
                while let Some((time, k, ())) = t.pop_event_timer(i64::MAX) {
                    assert_eq!(time, k as i64);
                    fired += 1;
                }
                assert!(fired > 0);
            }
            for k in 0..300u64 {
                let mine = range.contains(assigner.key_group(&k, &mut scratch));
                assert_eq!(v.get_in(&k, &(k as i64 % 3)), mine.then_some(k), "key {k} in instance {index}");
                let mut entries = m.entries(&k);
                entries.sort();
                let want = if mine { vec![(format!("a{k}"), k), (format!("b{k}"), k + 1)] } else { vec![] };
                assert_eq!(entries, want);
            }
        }
    }
}
