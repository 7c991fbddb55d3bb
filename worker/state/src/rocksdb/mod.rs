//! The RocksDB state backend: keyed state of one operator instance in an embedded RocksDB, one
//! column family per declared state, so state larger than memory spills to local disk.
//!
//! Keys are `[key group: u16 big endian][len][key][len][namespace]` (map state appends the user
//! key; `len` is an LEB128 byte count; key and namespace in the engine codec): a key group's rows
//! are one contiguous range, a key's rows one prefix (a map's in user-key byte order), and a row
//! splits without knowing its types. Values are stored exactly as the canonical snapshot encodes
//! them ([`crate::snapshot`], [`crate::ttl`]), so a canonical snapshot (a savepoint) is a scan that
//! splits keys and copies values, and a restore writes rows back; savepoints move between this
//! backend and the heap backend. Timers have rows of their own layout ([`timers`]).
//!
//! A list append is a merge (RocksDB concatenates the stored elements), never a read of the list.
//! Values whose TTL expired are dropped by a compaction filter that reads the expiry in front of
//! each value without knowing its type; table files older than a state's TTL are compacted
//! periodically so idle keys go too. Canonical snapshots leave expired values out; incremental
//! checkpoints hold what compaction has not dropped yet.
//!
//! Checkpoints are incremental ([`crate::incremental`]): the database's files at the
//! barrier (a RocksDB checkpoint: a flush and hard links, on the task thread) of which only the
//! table files the base checkpoint does not hold are uploaded (on the coordinator's writer
//! threads). A restore downloads the database of the old instance overlapping most, deletes the key
//! groups the new instance does not own, and copies in the rows of the other overlapping ones, so a
//! retained checkpoint restores at any parallelism. The heap backend restores it through the same
//! type-free scan.
//!
//! Memory: every instance in a process (a TaskManager) shares one LRU block cache and one write
//! buffer manager charged to it ([`RocksDbResources`]), so the budget holds however many
//! operators the process runs. The write-ahead log is off (checkpoints are the durability).

mod timers;

use super::snapshot::{
    KeyedEntry, KeyedStateSnapshot, SnapshotTable, StateKind, VALUE_FORMAT, encoded_len, push_len_prefixed,
    take_len_prefixed,
};
use super::timers::TimerService;
use super::ttl::{
    Read, Stamped, Ttl, Upgrade, decode_list, is_expired, list_elements, live_list, push_list_element, stored_expiry,
    v1,
};
use super::{ListStateBackend, MapStateBackend, StateDescriptor, Timers, ValueStateBackend, duplicate_state};
use crate::incremental::{DbFile, DbState, IncrementalHandle, IncrementalSnapshot, LocalDir, RestoredDb};
use crate::{MapEntry, Namespace};
use ferroflink_core::clock::Clock;
use ferroflink_core::codec::{decode, encode, encode_into};
use ferroflink_core::element::SnapshotFormat;
use ferroflink_core::error::{Error, Result};
use ferroflink_core::keygroup::KeyGroupRange;
use ferroflink_core::keygroup::key_group_for_bytes;
use ferroflink_core::record::{Data, Key};
use rocksdb::checkpoint::Checkpoint;
use rocksdb::compaction_filter::Decision;
use rocksdb::{
    BlockBasedIndexType, BlockBasedOptions, Cache, ColumnFamily, ColumnFamilyDescriptor, DB, DBCompressionType,
    Direction, IteratorMode, MergeOperands, Options, ReadOptions, WriteBatch, WriteBufferManager, WriteOptions,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::marker::PhantomData;
use std::ops::Bound;
use std::path::{Path, PathBuf};
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
    /// Checkpoints upload only new table files (savepoints are always full and canonical).
    pub incremental: bool,
    /// Timers are rows in RocksDB (else on the heap, snapshotted with the state).
    pub timers_in_rocksdb: bool,
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
            incremental: true,
            timers_in_rocksdb: true,
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
        // Index and filter blocks live in the shared cache (so the budget holds), partitioned: a
        // whole-file filter of a large table is bigger than a cache shard, cannot stay cached and
        // was read and checksummed again on every lookup.
        table.set_cache_index_and_filter_blocks(true);
        table.set_index_type(BlockBasedIndexType::TwoLevelIndexSearch);
        table.set_partition_filters(true);
        table.set_metadata_block_size(4096);
        table.set_pin_top_level_index_and_filter(true);
        table.set_pin_l0_filter_and_index_blocks_in_cache(true);
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

/// Options of the column family of a state of `kind` built on `base`: lists append through the
/// merge operator; with a `clock`, a compaction filter drops values whose TTL expired.
fn cf_options(base: &Options, kind: StateKind, clock: Option<&Arc<dyn Clock>>) -> Options {
    let mut options = base.clone();
    if kind == StateKind::List {
        // The name is stored in the database: keep it.
        options.set_merge_operator_associative("ferroflink-list-append", append_to_list);
    }
    if let Some(clock) = clock.filter(|_| kind != StateKind::Timers) {
        let clock = clock.clone();
        options.set_compaction_filter("ferroflink-ttl", move |_, _: &[u8], value: &[u8]| {
            if expired_row(kind, clock.now(), value) { Decision::Remove } else { Decision::Keep }
        });
    }
    options
}

/// A list's stored form is its elements back to back, so appending is concatenation.
fn append_to_list(_key: &[u8], existing: Option<&[u8]>, operands: &MergeOperands) -> Option<Vec<u8>> {
    let mut list = existing.map(<[u8]>::to_vec).unwrap_or_default();
    for element in operands {
        list.extend_from_slice(element);
    }
    Some(list)
}

/// Whether a row holds nothing live at `now` (a row that does not parse is kept).
fn expired_row(kind: StateKind, now: i64, value: &[u8]) -> bool {
    let expired = |bytes: &[u8]| stored_expiry(bytes).is_ok_and(|t| is_expired(t, now));
    match kind {
        StateKind::List => list_elements(value).all(|e| e.is_ok_and(expired)),
        _ => expired(value),
    }
}

/// A row's value with what expired at `now` left out (`None`: nothing is live).
fn live_row(kind: StateKind, now: i64, value: &[u8]) -> Result<Option<Cow<'_, [u8]>>> {
    match kind {
        StateKind::List => Ok(match live_list(value, now)? {
            None => Some(Cow::Borrowed(value)),
            Some(live) if live.is_empty() => None,
            Some(live) => Some(Cow::Owned(live)),
        }),
        StateKind::Timers => Ok(Some(Cow::Borrowed(value))),
        _ => Ok((!is_expired(stored_expiry(value)?, now)).then_some(Cow::Borrowed(value))),
    }
}

/// The database of one operator instance, opened at its first declared state.
struct Instance {
    db: DB,
    dir: PathBuf,
    write: WriteOptions,
    options: Options,
    /// Names this instance's uploads (unique across processes).
    uid: String,
    /// Per checkpoint it took part in (or restored), its table files as stored.
    uploads: BTreeMap<u64, HashMap<String, DbFile>>,
    /// Column families restored that no state declared (yet).
    undeclared: Vec<DbState>,
    /// Options of the column families created after opening: RocksDB holds their compaction
    /// filters by pointer, so they live as long as the database (declared after it: dropped after).
    created: Vec<Options>,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

type Shared = Rc<RefCell<Option<Instance>>>;

impl Instance {
    /// Takes a RocksDB checkpoint (a flush and hard links) of the database for checkpoint `id`:
    /// table files the instance stored for checkpoint `base` are referenced, the others uploaded.
    fn checkpoint(&mut self, id: u64, base: u64, states: Vec<DbState>) -> Result<IncrementalSnapshot> {
        let dir = LocalDir(sibling(&self.dir, &format!("chk-{id}")));
        let _ = std::fs::remove_dir_all(&dir.0);
        Checkpoint::new(&self.db)
            .and_then(|c| c.create_checkpoint(&dir.0))
            .map_err(|e| db_error(&format!("take a checkpoint into '{}'", dir.0.display()), e))?;
        let listing = std::fs::read_dir(&dir.0)
            .map_err(|e| Error::io(format!("cannot list the RocksDB checkpoint '{}'", dir.0.display()), e))?;
        let held = self.uploads.get(&base);
        let (mut shared, mut private, mut upload) = (Vec::new(), Vec::new(), Vec::new());
        for entry in listing {
            let entry = entry.map_err(|e| Error::io("cannot list a RocksDB checkpoint", e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let bytes = entry.metadata().map_err(|e| Error::io("cannot read a RocksDB checkpoint", e))?.len();
            if !name.ends_with(".sst") {
                private.push(DbFile { name, path: String::new(), bytes });
            } else if let Some(stored) = held.and_then(|h| h.get(&name)) {
                shared.push(stored.clone());
            } else {
                upload.push(name.clone());
                let path = format!("{}-{id}-{name}", self.uid);
                shared.push(DbFile { name, path, bytes });
            }
        }
        shared.sort_by(|a, b| a.name.cmp(&b.name));
        private.sort_by(|a, b| a.name.cmp(&b.name));
        self.uploads.insert(id, shared.iter().map(|f| (f.name.clone(), f.clone())).collect());
        // Later checkpoints build on `base` or newer.
        self.uploads.retain(|&c, _| c >= base);
        Ok(IncrementalSnapshot {
            dir,
            handle: IncrementalHandle { states, shared, private, format: VALUE_FORMAT },
            upload,
        })
    }
}

/// Length of the user key at the start of a canonical map value.
type UserKeyLen = fn(&[u8]) -> Result<usize>;
/// Ties a typed view to its key, namespace and value types.
type Marker<K, N, V> = PhantomData<fn() -> (K, N, V)>;

/// A declared state: its column family, how canonical map values split into user key and value,
/// how values of format 1 convert.
struct Layout {
    cf: String,
    kind: StateKind,
    user_key: Option<UserKeyLen>,
    upgrade: Upgrade,
}

/// A row of a state of `kind` as the canonical form has it: key group, key, namespace; and the value
/// with a map's user key in front (a timer's row holds its value in the row key).
fn canonical_entry(kind: StateKind, key: &[u8], value: &[u8]) -> Result<KeyedEntry> {
    if kind == StateKind::Timers {
        return timers::canonical_timer(key);
    }
    if key.len() < 2 {
        return Err(Error::Codec("RocksDB row key without a key group".into()));
    }
    let key_group = u16::from_be_bytes([key[0], key[1]]);
    let (k, rest) = take_len_prefixed(&key[2..])?;
    let (ns, user_key) = take_len_prefixed(rest)?;
    let mut v = Vec::with_capacity(user_key.len() + value.len());
    v.extend_from_slice(user_key);
    v.extend_from_slice(value);
    Ok(KeyedEntry { key_group, key: k.to_vec(), namespace: ns.to_vec(), value: v })
}

/// The row-key bounds `[from, to)` of key groups `range`.
fn key_group_bounds(range: KeyGroupRange) -> ([u8; 2], Vec<u8>) {
    let to = match u16::try_from(range.end + 1) {
        Ok(g) => g.to_be_bytes().to_vec(),
        Err(_) => vec![0xff; 3],
    };
    ((range.start as u16).to_be_bytes(), to)
}

fn overlap(a: KeyGroupRange, b: KeyGroupRange) -> Option<KeyGroupRange> {
    let (start, end) = (a.start.max(b.start), a.end.min(b.end));
    (start <= end).then_some(KeyGroupRange { start, end })
}

/// Rows of one column family within `range`, in key order.
fn scan_range<'a>(db: &'a DB, cf: &str, range: KeyGroupRange) -> Result<rocksdb::DBIteratorWithThreadMode<'a, DB>> {
    let handle = db.cf_handle(cf).ok_or_else(|| Error::Checkpoint(format!("the checkpoint has no state '{cf}'")))?;
    let (from, to) = key_group_bounds(range);
    let mut read = ReadOptions::default();
    read.set_iterate_upper_bound(to);
    Ok(db.iterator_cf_opt(handle, read, IteratorMode::From(&from, Direction::Forward)))
}

/// The first key after every key that starts with `prefix` (`None`: there is none).
fn successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// `<dir>.<suffix>`, next to `dir` (on the same file system, so hard links work).
fn sibling(dir: &Path, suffix: &str) -> PathBuf {
    let mut name = dir.as_os_str().to_owned();
    name.push(".");
    name.push(suffix);
    PathBuf::from(name)
}

/// Opens a restored database read-only from a scratch copy (deleted with the returned guard).
fn open_copy(db: &RestoredDb, dir: &Path, options: &Options) -> Result<(DB, LocalDir)> {
    let _ = std::fs::remove_dir_all(dir);
    let guard = LocalDir(dir.to_path_buf());
    db.download(dir)?;
    let cfs = db.handle.states.iter().map(|s| ColumnFamilyDescriptor::new(&s.name, cf_options(options, s.kind, None)));
    let opened = DB::open_cf_descriptors_read_only(options, dir, cfs, false)
        .map_err(|e| db_error(&format!("open the checkpointed database '{}'", dir.display()), e))?;
    Ok((opened, guard))
}

/// The canonical form of the keyed state in `dbs` (incremental checkpoints) within `range`: how
/// the heap backend restores them. `scratch` is a local directory for the downloads.
pub fn canonical_from_dbs(dbs: &[RestoredDb], range: KeyGroupRange, scratch: &Path) -> Result<Vec<KeyedStateSnapshot>> {
    let mut out: Vec<KeyedStateSnapshot> = Vec::new();
    for (i, db) in dbs.iter().enumerate() {
        let Some(part) = overlap(db.key_groups, range) else { continue };
        let dir = scratch.join(format!(
            "restore-{}-{}-{i}",
            std::process::id(),
            NEXT_INSTANCE.fetch_add(1, Ordering::Relaxed)
        ));
        let (opened, _guard) = open_copy(db, &dir, &Options::default())?;
        for state in &db.handle.states {
            let pos = match out.iter().position(|s| s.name == state.name) {
                Some(p) => p,
                None => {
                    out.push(KeyedStateSnapshot {
                        name: state.name.clone(),
                        kind: state.kind,
                        entries: Vec::new(),
                        legacy: false,
                    });
                    out.len() - 1
                }
            };
            for row in scan_range(&opened, &state.name, part)? {
                let (k, v) = row.map_err(|e| db_error("read a checkpointed database", e))?;
                out[pos].entries.push(canonical_entry(state.kind, &k, &v)?);
            }
        }
    }
    for s in &mut out {
        s.entries.sort_by_key(|e| e.key_group);
    }
    Ok(out)
}

/// The RocksDB backend of one operator instance.
pub struct RocksDbKeyedStateBackend {
    resources: Arc<RocksDbResources>,
    instance: Shared,
    name: String,
    /// The operator's name, for errors.
    operator: Rc<str>,
    max_parallelism: usize,
    clock: Arc<dyn Clock>,
    key_groups: KeyGroupRange,
    states: Vec<Layout>,
    /// Timer services on the heap (`timers_in_rocksdb: false`), snapshotted in canonical form.
    heap_timers: Vec<(String, Rc<dyn SnapshotTable>)>,
    restored: Vec<KeyedStateSnapshot>,
    /// Databases of an incremental checkpoint to restore when the instance opens.
    dbs: Vec<RestoredDb>,
}

impl RocksDbKeyedStateBackend {
    /// A backend for instance `name` (operator id and subtask) owning `key_groups`, that restores
    /// the databases `dbs` (incremental checkpoints) when it opens and fills each state from the
    /// canonical `restored` when the operator declares it.
    pub fn new(
        resources: Arc<RocksDbResources>,
        name: &str,
        max_parallelism: usize,
        key_groups: KeyGroupRange,
        clock: Arc<dyn Clock>,
        restored: Vec<KeyedStateSnapshot>,
        dbs: Vec<RestoredDb>,
    ) -> Self {
        RocksDbKeyedStateBackend {
            resources,
            instance: Rc::new(RefCell::new(None)),
            name: name.to_string(),
            operator: name.into(),
            max_parallelism,
            key_groups,
            clock,
            states: Vec::new(),
            heap_timers: Vec::new(),
            restored,
            dbs,
        }
    }

    /// Errors name the operator `name` (by default they name the instance).
    pub fn for_operator(mut self, name: &str) -> Self {
        self.operator = name.into();
        self
    }

    fn declared(&self, name: &str) -> bool {
        self.states.iter().any(|s| s.cf == name) || self.heap_timers.iter().any(|(n, _)| n == name)
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

    fn open_instance(&mut self) -> Result<()> {
        let mut slot = self.instance.borrow_mut();
        if slot.is_some() {
            return Ok(());
        }
        let n = NEXT_INSTANCE.fetch_add(1, Ordering::Relaxed);
        let instance = format!("{}-{}-{n}", self.name, std::process::id());
        let dir = self.resources.config.local_dir.join(&instance);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::io(format!("cannot create the RocksDB directory '{}'", dir.display()), e))?;
        let started = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let uid =
            format!("{}-{:016x}", self.name, xxhash_rust::xxh64::xxh64(instance.as_bytes(), started.as_nanos() as u64));
        let options = self.resources.options();
        let mut write = WriteOptions::default();
        write.disable_wal(true);
        let mut uploads = BTreeMap::new();
        let mut undeclared = Vec::new();
        let mut created = Vec::new();
        // The restored database that overlaps most becomes this one; the others' rows are copied in.
        let base = (0..self.dbs.len())
            .max_by_key(|&i| overlap(self.dbs[i].key_groups, self.key_groups).map_or(0, |o| o.end - o.start + 1));
        let db = match base {
            None => DB::open(&options, &dir).map_err(|e| db_error(&format!("open '{}'", dir.display()), e))?,
            Some(b) => {
                let restored = &self.dbs[b];
                restored.download(&dir)?;
                let clock = Some(&self.clock);
                let cfs = restored
                    .handle
                    .states
                    .iter()
                    .map(|s| ColumnFamilyDescriptor::new(&s.name, cf_options(&options, s.kind, clock)));
                let mut db = DB::open_cf_descriptors(&options, &dir, cfs)
                    .map_err(|e| db_error(&format!("open the restored database '{}'", dir.display()), e))?;
                let all = KeyGroupRange { start: 0, end: self.max_parallelism - 1 };
                let (from, to) = key_group_bounds(self.key_groups);
                let (low, high) = key_group_bounds(all);
                for state in &restored.handle.states {
                    let cf = db.cf_handle(&state.name).expect("opened");
                    let drop_error = |e| db_error("drop key groups of other instances", e);
                    if restored.key_groups.start < self.key_groups.start {
                        db.delete_range_cf(cf, low, from).map_err(drop_error)?;
                    }
                    if restored.key_groups.end > self.key_groups.end {
                        db.delete_range_cf(cf, &to, &high).map_err(drop_error)?;
                    }
                }
                uploads.insert(
                    restored.checkpoint_id,
                    restored.handle.shared.iter().map(|f| (f.name.clone(), f.clone())).collect(),
                );
                undeclared.extend(restored.handle.states.iter().cloned());
                for (i, other) in self.dbs.iter().enumerate().filter(|(i, _)| *i != b) {
                    let Some(part) = overlap(other.key_groups, self.key_groups) else { continue };
                    let (copy, _guard) = open_copy(other, &sibling(&dir, &format!("restore-{i}")), &options)?;
                    for state in &other.handle.states {
                        if db.cf_handle(&state.name).is_none() {
                            let cf_options = cf_options(&options, state.kind, Some(&self.clock));
                            db.create_cf(&state.name, &cf_options)
                                .map_err(|e| db_error("create a restored state", e))?;
                            created.push(cf_options);
                            undeclared.push(state.clone());
                        }
                        let cf = db.cf_handle(&state.name).expect("created");
                        let mut batch = WriteBatch::default();
                        for row in scan_range(&copy, &state.name, part)? {
                            let (k, v) = row.map_err(|e| db_error("read a checkpointed database", e))?;
                            batch.put_cf(cf, k, v);
                            if batch.len() >= 10_000 {
                                db.write_opt(std::mem::take(&mut batch), &write).map_err(|e| db_error("restore", e))?;
                            }
                        }
                        db.write_opt(batch, &write).map_err(|e| db_error("restore", e))?;
                    }
                }
                db
            }
        };
        self.dbs.clear();
        *slot = Some(Instance { db, dir, write, options, uid, uploads, undeclared, created });
        Ok(())
    }

    fn declare(
        &mut self,
        desc: &StateDescriptor,
        kind: StateKind,
        user_key: Option<UserKeyLen>,
        upgrade: Upgrade,
    ) -> Result<Handle> {
        if self.declared(&desc.name) {
            return Err(duplicate_state(&desc.name));
        }
        let restored = self.take_restored(&desc.name, kind)?;
        self.open_instance()?;
        {
            let mut slot = self.instance.borrow_mut();
            let inst = slot.as_mut().expect("opened");
            match inst.undeclared.iter().position(|s| s.name == desc.name) {
                Some(pos) => {
                    let restored = inst.undeclared.swap_remove(pos);
                    if restored.kind != kind {
                        return Err(Error::InvalidJob(format!(
                            "state '{}' is a {} in the checkpoint but the job declares it as a {kind}",
                            desc.name, restored.kind
                        )));
                    }
                }
                None => {
                    let options = cf_options(&inst.options, kind, Some(&self.clock));
                    inst.db
                        .create_cf(&desc.name, &options)
                        .map_err(|e| db_error(&format!("create state '{}'", desc.name), e))?;
                    inst.created.push(options);
                }
            }
            if let Some(ttl) = &desc.ttl {
                // Table files that nothing else compacts are compacted once they are this old, so the
                // compaction filter sees expired values of keys nobody touches any more.
                let age = ttl.periodic_compaction.unwrap_or(ttl.ttl).as_secs().max(1).to_string();
                let cf = inst.db.cf_handle(&desc.name).expect("created");
                inst.db
                    .set_options_cf(&cf, &[("periodic_compaction_seconds", age.as_str())])
                    .map_err(|e| db_error(&format!("set the TTL compaction of state '{}'", desc.name), e))?;
            }
        }
        let layout = Layout { cf: desc.name.clone(), kind, user_key, upgrade };
        if let Some(snapshot) = restored {
            self.restore_rows(&layout, &snapshot)?;
        }
        self.states.push(layout);
        Ok(Handle {
            instance: self.instance.clone(),
            cf: desc.name.clone(),
            operator: self.operator.clone(),
            max_parallelism: self.max_parallelism,
            ttl: Ttl::new(desc.ttl, self.clock.clone()),
            scratch: RefCell::new(Vec::new()),
            part: RefCell::new(Vec::new()),
        })
    }

    fn restore_rows(&self, layout: &Layout, snapshot: &KeyedStateSnapshot) -> Result<()> {
        let slot = self.instance.borrow();
        let inst = slot.as_ref().expect("opened");
        let cf = inst.db.cf_handle(&layout.cf).expect("created");
        let mut batch = WriteBatch::default();
        let mut key = Vec::new();
        let now = self.clock.now();
        for e in &snapshot.entries {
            if layout.kind == StateKind::Timers {
                batch.put_cf(cf, timers::timer_row(e)?, []);
                continue;
            }
            key.clear();
            key.extend_from_slice(&e.key_group.to_be_bytes());
            push_len_prefixed(&mut key, &e.key);
            push_len_prefixed(&mut key, &e.namespace);
            let upgraded;
            let row = if snapshot.legacy {
                upgraded = (layout.upgrade)(&e.value).map_err(|err| {
                    Error::Codec(format!(
                        "state '{}': a value of format 1 does not decode as the declared type ({err})",
                        layout.cf
                    ))
                })?;
                &upgraded[..]
            } else {
                &e.value[..]
            };
            let value = match layout.user_key {
                Some(user_key) => {
                    let n = user_key(row)?;
                    key.extend_from_slice(&row[..n]);
                    &row[n..]
                }
                None => row,
            };
            let Some(value) = live_row(layout.kind, now, value)? else { continue };
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
        let handle = self.declare(desc, StateKind::Value, None, v1::value::<V>)?;
        Ok(Box::new(Typed::<K, N, V> { handle, _t: PhantomData }))
    }

    pub(super) fn list<K: Key, V: Data, N: Namespace>(
        &mut self,
        desc: &StateDescriptor,
    ) -> Result<Box<dyn ListStateBackend<K, N, V>>> {
        let handle = self.declare(desc, StateKind::List, None, v1::list::<V>)?;
        Ok(Box::new(Typed::<K, N, V> { handle, _t: PhantomData }))
    }

    pub(super) fn map<K: Key, UK: Key, UV: Data, N: Namespace>(
        &mut self,
        desc: &StateDescriptor,
    ) -> Result<Box<dyn MapStateBackend<K, N, UK, UV>>> {
        let handle = self.declare(desc, StateKind::Map, Some(encoded_len::<UK>), v1::map_row::<UK, UV>)?;
        Ok(Box::new(Typed::<K, N, (UK, UV)> { handle, _t: PhantomData }))
    }

    pub(super) fn timers<K: Key, N: Namespace>(&mut self, name: &str) -> Result<Timers<K, N>> {
        if self.resources.config.timers_in_rocksdb {
            let handle = self.declare(&StateDescriptor::new(name), StateKind::Timers, None, |b| Ok(b.to_vec()))?;
            return Ok(Timers::new(Rc::new(timers::RocksDbTimers::<K, N>::open(handle, self.key_groups)?)));
        }
        if self.declared(name) {
            return Err(duplicate_state(name));
        }
        let in_database = match self.instance.borrow().as_ref() {
            Some(inst) => inst.undeclared.iter().any(|s| s.name == name),
            None => self.dbs.iter().any(|d| d.handle.states.iter().any(|s| s.name == name)),
        };
        if in_database {
            return Err(Error::InvalidJob(format!(
                "the checkpoint keeps the timers '{name}' in RocksDB but the job keeps timers on the heap: restore it \
                 with state.rocksdb-timers: rocksdb, or restore from a savepoint"
            )));
        }
        let service = Rc::new(RefCell::new(TimerService::<K, N>::default()));
        if let Some(snapshot) = self.take_restored(name, StateKind::Timers)? {
            service.restore(&snapshot)?;
        }
        self.heap_timers.push((name.to_string(), service.clone()));
        Ok(Timers::heap(service))
    }

    /// `e` with the operator named in front of what failed.
    fn of_operator(&self, e: Error) -> Error {
        match e {
            Error::Io { context, source } => Error::io(format!("operator '{}': {context}", self.operator), source),
            other => other,
        }
    }

    /// RocksDB's estimate of the live data of every declared state (bytes).
    pub fn live_data_bytes(&self) -> Result<u64> {
        let slot = self.instance.borrow();
        let Some(inst) = slot.as_ref() else { return Ok(0) };
        let mut total = 0;
        for layout in &self.states {
            let cf = inst.db.cf_handle(&layout.cf).expect("created");
            let live = inst
                .db
                .property_int_value_cf(&cf, rocksdb::properties::ESTIMATE_LIVE_DATA_SIZE)
                .map_err(|e| db_error("read the live data size", e))?;
            total += live.unwrap_or(0);
        }
        Ok(total)
    }

    pub(super) fn state_names(&self) -> Vec<String> {
        self.states.iter().map(|s| s.cf.clone()).chain(self.heap_timers.iter().map(|(n, _)| n.clone())).collect()
    }

    pub(super) fn unrestored(&self) -> Vec<String> {
        let slot = self.instance.borrow();
        let undeclared = match slot.as_ref() {
            Some(inst) => inst.undeclared.iter().map(|s| s.name.clone()).collect(),
            None => self.dbs.iter().flat_map(|d| &d.handle.states).map(|s| s.name.clone()).collect::<Vec<_>>(),
        };
        let mut names: Vec<String> = self.restored.iter().map(|s| s.name.clone()).chain(undeclared).collect();
        names.sort();
        names.dedup();
        names
    }

    /// A snapshot for checkpoint `checkpoint_id`: canonical (every state scanned in key-group
    /// order), or incremental when `format` asks for it (the database's files).
    pub(super) fn snapshot(
        &self,
        format: SnapshotFormat,
        checkpoint_id: u64,
    ) -> Result<(Vec<KeyedStateSnapshot>, Option<IncrementalSnapshot>)> {
        let mut out = Vec::new();
        for (name, timers) in &self.heap_timers {
            let mut enc = super::snapshot::EntryEncoder::new(self.max_parallelism);
            timers.snapshot(&mut enc)?;
            out.push(KeyedStateSnapshot {
                name: name.clone(),
                kind: StateKind::Timers,
                entries: enc.finish(),
                legacy: false,
            });
        }
        let mut slot = self.instance.borrow_mut();
        let Some(inst) = slot.as_mut() else { return Ok((out, None)) };
        if let SnapshotFormat::Incremental { base } = format
            && self.resources.config.incremental
        {
            let mut states: Vec<DbState> =
                self.states.iter().map(|l| DbState { name: l.cf.clone(), kind: l.kind }).collect();
            states.extend(inst.undeclared.iter().cloned());
            let snapshot = inst.checkpoint(checkpoint_id, base, states).map_err(|e| self.of_operator(e))?;
            return Ok((out, Some(snapshot)));
        }
        let all = KeyGroupRange { start: 0, end: self.max_parallelism - 1 };
        let now = self.clock.now();
        let mut keyed = Vec::new();
        for layout in &self.states {
            let mut entries: Vec<KeyedEntry> = Vec::new();
            for row in scan_range(&inst.db, &layout.cf, all)? {
                let (key, value) = row.map_err(|e| db_error("read state for a snapshot", e))?;
                if let Some(value) = live_row(layout.kind, now, &value)? {
                    entries.push(canonical_entry(layout.kind, &key, &value)?);
                }
            }
            keyed.push(KeyedStateSnapshot { name: layout.cf.clone(), kind: layout.kind, entries, legacy: false });
        }
        keyed.extend(out);
        Ok((keyed, None))
    }
}

/// What every typed state handle holds: the instance, its column family and TTL.
struct Handle {
    instance: Shared,
    cf: String,
    operator: Rc<str>,
    max_parallelism: usize,
    ttl: Ttl,
    scratch: RefCell<Vec<u8>>,
    part: RefCell<Vec<u8>>,
}

impl Handle {
    /// An I/O error of this state, naming the operator, the state and what failed.
    fn failed(&self, what: &str, e: rocksdb::Error) -> Error {
        Error::io(
            format!("state '{}' of operator '{}': RocksDB cannot {what}", self.cf, self.operator),
            std::io::Error::other(e.into_string()),
        )
    }

    /// A stored value this job cannot decode.
    fn undecodable(&self, e: Error) -> Error {
        Error::Codec(format!(
            "state '{}' of operator '{}' holds bytes the job cannot decode ({e}); was the state written with \
             another type?",
            self.cf, self.operator
        ))
    }

    /// Builds `[key group][key][namespace]` into the scratch buffer and runs `f` on it.
    fn with_key<K: Serialize, N: Serialize, R>(
        &self,
        key: &K,
        ns: &N,
        f: impl FnOnce(&Instance, &ColumnFamily, &[u8]) -> Result<R>,
    ) -> Result<R> {
        self.with_row_prefix(key, Some(ns), f)
    }

    /// Builds `[key group][key]`, then `[namespace]` if given, into the scratch buffer and runs `f`
    /// on it.
    fn with_row_prefix<K: Serialize, N: Serialize, R>(
        &self,
        key: &K,
        ns: Option<&N>,
        f: impl FnOnce(&Instance, &ColumnFamily, &[u8]) -> Result<R>,
    ) -> Result<R> {
        let (mut buf, mut part) = (self.scratch.borrow_mut(), self.part.borrow_mut());
        part.clear();
        encode_into(key, &mut part)?;
        buf.clear();
        buf.extend_from_slice(&(key_group_for_bytes(&part, self.max_parallelism) as u16).to_be_bytes());
        push_len_prefixed(&mut buf, &part);
        if let Some(ns) = ns {
            part.clear();
            encode_into(ns, &mut part)?;
            push_len_prefixed(&mut buf, &part);
        }
        let slot = self.instance.borrow();
        let inst = slot.as_ref().ok_or_else(|| Error::Internal(format!("state '{}' used before open", self.cf)))?;
        let cf = inst
            .db
            .cf_handle(&self.cf)
            .ok_or_else(|| Error::Internal(format!("state '{}' has no column family", self.cf)))?;
        f(inst, cf, &buf)
    }

    /// Reads the rows that start with `prefix`, in key order.
    fn prefix_scan<'a>(
        inst: &'a Instance,
        cf: &ColumnFamily,
        prefix: &[u8],
        mode: IteratorMode,
    ) -> rocksdb::DBIteratorWithThreadMode<'a, DB> {
        let mut read = ReadOptions::default();
        read.set_iterate_lower_bound(prefix.to_vec());
        if let Some(end) = successor(prefix) {
            read.set_iterate_upper_bound(end);
        }
        inst.db.iterator_cf_opt(cf, read, mode)
    }

    fn get<T: DeserializeOwned>(&self, inst: &Instance, cf: &ColumnFamily, key: &[u8]) -> Result<Option<T>> {
        match inst.db.get_pinned_cf(cf, key).map_err(|e| self.failed("read", e))? {
            Some(bytes) => decode(&bytes).map(Some).map_err(|e| self.undecodable(e)),
            None => Ok(None),
        }
    }

    fn put<T: Serialize>(&self, inst: &Instance, cf: &ColumnFamily, key: &[u8], value: &T) -> Result<()> {
        let mut bytes = Vec::new();
        encode_into(value, &mut bytes)?;
        inst.db.put_cf_opt(cf, key, bytes, &inst.write).map_err(|e| self.failed("write", e))
    }

    fn delete(&self, inst: &Instance, cf: &ColumnFamily, key: &[u8]) -> Result<()> {
        inst.db.delete_cf_opt(cf, key, &inst.write).map_err(|e| self.failed("delete", e))
    }

    /// Reads a stamped value: expired ones are deleted and not returned, live ones refreshed if
    /// reads refresh.
    fn get_live<V: Data>(&self, inst: &Instance, cf: &ColumnFamily, key: &[u8]) -> Result<Option<V>> {
        let Some(mut stamped) = self.get::<Stamped<V>>(inst, cf, key)? else { return Ok(None) };
        match self.ttl.read(&mut stamped) {
            Read::Live { refreshed: false } => {}
            Read::Live { refreshed: true } => self.put(inst, cf, key, &stamped)?,
            Read::Expired { visible } => {
                self.delete(inst, cf, key)?;
                if !visible {
                    return Ok(None);
                }
            }
        }
        Ok(Some(stamped.value))
    }

    /// Replaces a list (an empty one is deleted).
    fn write_list<V: Serialize>(
        &self,
        inst: &Instance,
        cf: &ColumnFamily,
        key: &[u8],
        list: &[Stamped<V>],
    ) -> Result<()> {
        if list.is_empty() {
            return self.delete(inst, cf, key);
        }
        let mut bytes = Vec::new();
        for s in list {
            push_list_element(&mut bytes, s)?;
        }
        inst.db.put_cf_opt(cf, key, bytes, &inst.write).map_err(|e| self.failed("write", e))
    }

    /// Runs `f` on each row under `prefix`, in key order.
    fn for_prefix(
        &self,
        inst: &Instance,
        cf: &ColumnFamily,
        prefix: &[u8],
        mut f: impl FnMut(&[u8], &[u8]) -> Result<()>,
    ) -> Result<()> {
        for row in inst.db.iterator_cf(cf, IteratorMode::From(prefix, Direction::Forward)) {
            let (k, v) = row.map_err(|e| self.failed("scan", e))?;
            if !k.starts_with(prefix) {
                break;
            }
            f(&k, &v)?;
        }
        Ok(())
    }
}

/// A typed view of a column family (`V` is `(UK, UV)` for map state).
struct Typed<K, N, V> {
    handle: Handle,
    _t: Marker<K, N, V>,
}

impl<K: Key, N: Namespace, V: Data> ValueStateBackend<K, N, V> for Typed<K, N, V> {
    fn get(&self, key: &K, ns: &N) -> Result<Option<V>> {
        let h = &self.handle;
        h.with_key(key, ns, |inst, cf, k| h.get_live(inst, cf, k))
    }

    fn put(&self, key: &K, ns: &N, value: V) -> Result<()> {
        let h = &self.handle;
        let stamped = h.ttl.stamp(value);
        h.with_key(key, ns, |inst, cf, k| h.put(inst, cf, k, &stamped))
    }

    fn clear(&self, key: &K, ns: &N) -> Result<()> {
        let h = &self.handle;
        h.with_key(key, ns, |inst, cf, k| h.delete(inst, cf, k))
    }

    fn modify(&self, key: &K, ns: &N, init: &mut dyn FnMut() -> V, f: &mut dyn FnMut(&mut V)) -> Result<bool> {
        let h = &self.handle;
        h.with_key(key, ns, |inst, cf, k| {
            let (mut value, unset) = match h.get_live(inst, cf, k)? {
                Some(v) => (v, false),
                None => (init(), true),
            };
            f(&mut value);
            h.put(inst, cf, k, &h.ttl.stamp(value))?;
            Ok(unset)
        })
    }

    fn for_each_namespace(&self, key: &K, f: &mut dyn FnMut(&N, &V)) -> Result<()> {
        let h = &self.handle;
        h.with_row_prefix(key, None::<&N>, |inst, cf, prefix| {
            let now = h.ttl.now();
            for row in Handle::prefix_scan(inst, cf, prefix, IteratorMode::Start) {
                let (k, v) = row.map_err(|e| h.failed("scan", e))?;
                let (ns, _) = take_len_prefixed(&k[prefix.len()..]).map_err(|e| h.undecodable(e))?;
                let ns: N = decode(ns).map_err(|e| h.undecodable(e))?;
                let stamped: Stamped<V> = decode(&v).map_err(|e| h.undecodable(e))?;
                if !is_expired(stamped.expires_at, now) {
                    f(&ns, &stamped.value);
                }
            }
            Ok(())
        })
    }
}

/// A list is stored as its elements back to back ([`crate::ttl`]): an append is a merge that
/// RocksDB concatenates, never a read of the list.
impl<K: Key, N: Namespace, V: Data> ListStateBackend<K, N, V> for Typed<K, N, V> {
    fn get(&self, key: &K, ns: &N) -> Result<Vec<V>> {
        let h = &self.handle;
        h.with_key(key, ns, |inst, cf, k| {
            let Some(bytes) = inst.db.get_pinned_cf(cf, k).map_err(|e| h.failed("read", e))? else {
                return Ok(Vec::new());
            };
            let mut list: Vec<Stamped<V>> = decode_list(&bytes).map_err(|e| h.undecodable(e))?;
            drop(bytes);
            let (mut values, mut changed) = (Vec::with_capacity(list.len()), false);
            list.retain_mut(|s| match h.ttl.read(s) {
                Read::Live { refreshed } => {
                    changed |= refreshed;
                    values.push(s.value.clone());
                    true
                }
                Read::Expired { visible } => {
                    changed = true;
                    if visible {
                        values.push(s.value.clone());
                    }
                    false
                }
            });
            if changed {
                h.write_list(inst, cf, k, &list)?;
            }
            Ok(values)
        })
    }

    fn add(&self, key: &K, ns: &N, value: V) -> Result<()> {
        let h = &self.handle;
        let mut element = Vec::new();
        push_list_element(&mut element, &h.ttl.stamp(value))?;
        h.with_key(key, ns, |inst, cf, k| {
            inst.db.merge_cf_opt(cf, k, &element, &inst.write).map_err(|e| h.failed("append", e))
        })
    }

    fn update(&self, key: &K, ns: &N, values: Vec<V>) -> Result<()> {
        let h = &self.handle;
        let list: Vec<Stamped<V>> = values.into_iter().map(|v| h.ttl.stamp(v)).collect();
        h.with_key(key, ns, |inst, cf, k| h.write_list(inst, cf, k, &list))
    }

    fn clear(&self, key: &K, ns: &N) -> Result<()> {
        let h = &self.handle;
        h.with_key(key, ns, |inst, cf, k| h.delete(inst, cf, k))
    }
}

impl<K: Key, N: Namespace, UK: Key, UV: Data> MapStateBackend<K, N, UK, UV> for Typed<K, N, (UK, UV)> {
    fn get(&self, key: &K, ns: &N, user_key: &UK) -> Result<Option<UV>> {
        let h = &self.handle;
        h.with_key(key, ns, |inst, cf, prefix| {
            let mut k = prefix.to_vec();
            encode_into(user_key, &mut k)?;
            h.get_live(inst, cf, &k)
        })
    }

    fn put(&self, key: &K, ns: &N, user_key: UK, value: UV) -> Result<()> {
        let h = &self.handle;
        let stamped = h.ttl.stamp(value);
        h.with_key(key, ns, |inst, cf, prefix| {
            let mut k = prefix.to_vec();
            encode_into(&user_key, &mut k)?;
            h.put(inst, cf, &k, &stamped)
        })
    }

    fn remove(&self, key: &K, ns: &N, user_key: &UK) -> Result<()> {
        let h = &self.handle;
        h.with_key(key, ns, |inst, cf, prefix| {
            let mut k = prefix.to_vec();
            encode_into(user_key, &mut k)?;
            h.delete(inst, cf, &k)
        })
    }

    fn scan(&self, key: &K, ns: &N, bound: Bound<&[u8]>, reverse: bool, limit: usize) -> Result<Vec<MapEntry<UK, UV>>> {
        let h = &self.handle;
        h.with_key(key, ns, |inst, cf, prefix| {
            let direction = if reverse { Direction::Reverse } else { Direction::Forward };
            let (seek, skip) = match bound {
                Bound::Included(b) => (Some([prefix, b].concat()), None),
                Bound::Excluded(b) => (Some([prefix, b].concat()), Some(b)),
                Bound::Unbounded => (None, None),
            };
            let mode = match (&seek, reverse) {
                (Some(seek), _) => IteratorMode::From(seek, direction),
                (None, false) => IteratorMode::Start,
                (None, true) => IteratorMode::End,
            };
            let (mut out, mut writes) = (Vec::new(), WriteBatch::default());
            for row in Handle::prefix_scan(inst, cf, prefix, mode) {
                let (k, v) = row.map_err(|e| h.failed("scan", e))?;
                let user_key = &k[prefix.len()..];
                if skip == Some(user_key) {
                    continue;
                }
                let mut stamped: Stamped<UV> = decode(&v).map_err(|e| h.undecodable(e))?;
                match h.ttl.read(&mut stamped) {
                    Read::Live { refreshed: false } => {}
                    Read::Live { refreshed: true } => writes.put_cf(cf, &k, encode(&stamped)?),
                    Read::Expired { visible } => {
                        writes.delete_cf(cf, &k);
                        if !visible {
                            continue;
                        }
                    }
                }
                let decoded = decode(user_key).map_err(|e| h.undecodable(e))?;
                out.push((user_key.to_vec(), decoded, stamped.value));
                if out.len() >= limit {
                    break;
                }
            }
            if !writes.is_empty() {
                inst.db.write_opt(writes, &inst.write).map_err(|e| h.failed("write", e))?;
            }
            Ok(out)
        })
    }

    fn clear(&self, key: &K, ns: &N) -> Result<()> {
        let h = &self.handle;
        h.with_key(key, ns, |inst, cf, prefix| {
            let mut batch = WriteBatch::default();
            h.for_prefix(inst, cf, prefix, |k, _| {
                batch.delete_cf(cf, k);
                Ok(())
            })?;
            inst.db.write_opt(batch, &inst.write).map_err(|e| h.failed("delete", e))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::heap::HeapKeyedStateBackend;
    use crate::snapshot::OperatorSubtaskState;
    use crate::{KeyedStateBackend, StateDescriptor};
    use ferroflink_core::clock::ManualClock;
    use ferroflink_core::keygroup::{KeyGroupAssigner, KeyGroupRange};

    fn resources() -> Arc<RocksDbResources> {
        let dir = std::env::temp_dir().join(format!("ff-rocksdb-unit-{}", std::process::id()));
        RocksDbResources::new(RocksDbConfig { local_dir: dir, memory_bytes: 16 << 20, ..RocksDbConfig::default() })
    }

    const ALL: KeyGroupRange = KeyGroupRange { start: 0, end: 127 };

    fn rocks(res: &Arc<RocksDbResources>, clock: &ManualClock, restored: Vec<KeyedStateSnapshot>) -> KeyedStateBackend {
        rocks_from(res, clock, ALL, restored, Vec::new())
    }

    fn rocks_from(
        res: &Arc<RocksDbResources>,
        clock: &ManualClock,
        range: KeyGroupRange,
        restored: Vec<KeyedStateSnapshot>,
        dbs: Vec<RestoredDb>,
    ) -> KeyedStateBackend {
        KeyedStateBackend::RocksDb(RocksDbKeyedStateBackend::new(
            res.clone(),
            "op-0",
            128,
            range,
            Arc::new(clock.clone()),
            restored,
            dbs,
        ))
    }

    #[test]
    fn conforms() {
        let res = resources();
        crate::conformance::all(&|clock, restored| rocks(&res, clock, restored));
    }

    #[test]
    fn conforms_with_timers_on_the_heap() {
        let dir = std::env::temp_dir().join(format!("ff-rocksdb-heap-timers-{}", std::process::id()));
        let config = RocksDbConfig {
            local_dir: dir,
            memory_bytes: 16 << 20,
            timers_in_rocksdb: false,
            ..RocksDbConfig::default()
        };
        let res = RocksDbResources::new(config);
        crate::conformance::all(&|clock, restored| rocks(&res, clock, restored));
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
            v.put_in(&k, &(k as i64 % 3), k).unwrap();
            m.put(&k, format!("a{k}"), k).unwrap();
            m.put(&k, format!("b{k}"), k + 1).unwrap();
            t.register_event_time_timer(&k, &(), k as i64).unwrap();
        }
        let snapshot =
            OperatorSubtaskState { keyed: b.snapshot(SnapshotFormat::Canonical, 1).unwrap().0, operator: Vec::new() };
        // The heap backend's snapshot of the same contents is the same canonical form.
        let mut h = KeyedStateBackend::Heap(HeapKeyedStateBackend::new(Arc::new(clock.clone()), 128));
        let hv = h.value_state::<u64, u64, i64>(&StateDescriptor::new("v")).unwrap();
        let hm = h.map_state::<u64, String, u64, ()>(&StateDescriptor::new("m")).unwrap();
        for k in 0..300u64 {
            hv.put_in(&k, &(k as i64 % 3), k).unwrap();
            hm.put(&k, format!("a{k}"), k).unwrap();
            hm.put(&k, format!("b{k}"), k + 1).unwrap();
        }
        let sorted = |mut e: Vec<KeyedEntry>| {
            e.sort_by(|a, b| {
                (a.key_group, &a.key, &a.namespace, &a.value).cmp(&(b.key_group, &b.key, &b.namespace, &b.value))
            });
            e
        };
        let heap_snapshot = h.snapshot(SnapshotFormat::Canonical, 1).unwrap().0;
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
                while let Some((time, k, ())) = t.pop_event_timer(i64::MAX).unwrap() {
                    assert_eq!(time, k as i64);
                    fired += 1;
                }
                assert!(fired > 0);
            }
            for k in 0..300u64 {
                let mine = range.contains(assigner.key_group(&k, &mut scratch));
                assert_eq!(v.get_in(&k, &(k as i64 % 3)).unwrap(), mine.then_some(k), "key {k} in instance {index}");
                let mut entries = m.entries(&k).unwrap();
                entries.sort();
                let want = if mine { vec![(format!("a{k}"), k), (format!("b{k}"), k + 1)] } else { vec![] };
                assert_eq!(entries, want);
            }
        }
    }

    #[test]
    fn incremental_checkpoints_upload_new_files_and_restore_at_other_parallelism() {
        use crate::storage::{CheckpointStorage, LocalStorage};
        let res = resources();
        let clock = ManualClock::new(0);
        let root = std::env::temp_dir().join(format!("ff-incremental-unit-{}", std::process::id()));
        let job: Arc<dyn CheckpointStorage> = Arc::new(LocalStorage::new(&root));
        let shared = job.scoped("shared");
        let mut b = rocks(&res, &clock, Vec::new());
        let v = b.value_state::<u64, u64, ()>(&StateDescriptor::new("v")).unwrap();
        let m = b.map_state::<u64, String, u64, ()>(&StateDescriptor::new("m")).unwrap();
        let t = b.timer_service::<u64, ()>("t").unwrap();
        let checkpoint = |id: u64, base: u64| {
            let (timers, snap) = b.snapshot(SnapshotFormat::Incremental { base }, id).unwrap();
            assert!(timers.is_empty(), "timers are rows of the database");
            let snap = snap.expect("incremental");
            let uploaded = snap.upload.len();
            let dir = snap.dir.0.clone();
            let (handle, _) = snap.store(&shared, &job.scoped(&format!("chk-{id}")), "op-0.db").unwrap();
            assert!(!dir.exists(), "the local checkpoint is deleted once stored");
            (handle, uploaded, timers)
        };
        for k in 0..500u64 {
            v.put(&k, k).unwrap();
            m.put(&k, format!("u{k}"), k * 2).unwrap();
            t.register_event_time_timer(&k, &(), k as i64).unwrap();
        }
        let (first, uploaded, _) = checkpoint(1, 0);
        assert_eq!(uploaded, first.shared.len());
        assert!(uploaded >= 2, "a table file per state: {first:?}");
        for k in 500..600u64 {
            v.put(&k, k).unwrap();
        }
        let (second, uploaded, timers) = checkpoint(2, 1);
        assert_eq!(uploaded, 1, "only the new table file of 'v' is uploaded: {second:?}");
        assert!(first.shared.iter().all(|f| second.shared.contains(f)), "the others are referenced");
        let (third, uploaded, _) = checkpoint(3, 0);
        assert_eq!(uploaded, third.shared.len(), "no base: everything is uploaded");
        // Restore checkpoint 2 at parallelism 2: instance 0 on RocksDB, instance 1 on the heap.
        let db = RestoredDb {
            checkpoint_id: 2,
            key_groups: ALL,
            handle: second,
            private: job.scoped("chk-2"),
            shared: shared.clone(),
        };
        db.check_files().unwrap();
        let assigner = KeyGroupAssigner::new(128);
        let mut scratch = Vec::new();
        for index in 0..2 {
            let range = KeyGroupRange::for_operator(128, 2, index);
            let mut timers = timers.clone();
            for s in &mut timers {
                s.entries.retain(|e| range.contains(e.key_group as usize));
            }
            let mut target = if index == 0 {
                rocks_from(&res, &clock, range, timers, vec![db.clone()])
            } else {
                let mut keyed = canonical_from_dbs(std::slice::from_ref(&db), range, &res.config.local_dir).unwrap();
                keyed.extend(timers);
                KeyedStateBackend::Heap(HeapKeyedStateBackend::restoring(Arc::new(clock.clone()), 128, keyed))
            };
            let v = target.value_state::<u64, u64, ()>(&StateDescriptor::new("v")).unwrap();
            let m = target.map_state::<u64, String, u64, ()>(&StateDescriptor::new("m")).unwrap();
            let t = target.timer_service::<u64, ()>("t").unwrap();
            assert!(target.unrestored().is_empty());
            let mut fired = 0;
            while let Some((time, k, ())) = t.pop_event_timer(i64::MAX).unwrap() {
                assert_eq!(time, k as i64);
                fired += 1;
            }
            let mut mine = 0;
            for k in 0..600u64 {
                let own = range.contains(assigner.key_group(&k, &mut scratch));
                mine += usize::from(own && k < 500);
                assert_eq!(v.get(&k).unwrap(), own.then_some(k), "key {k} in instance {index}");
                let want = if own && k < 500 { vec![(format!("u{k}"), k * 2)] } else { vec![] };
                assert_eq!(m.entries(&k).unwrap(), want);
            }
            assert_eq!(fired, mine);
        }
        // Scale back in: one instance from the two halves' checkpoints.
        let mut halves = Vec::new();
        for index in 0..2 {
            let range = KeyGroupRange::for_operator(128, 2, index);
            let mut half = rocks_from(&res, &clock, range, Vec::new(), vec![db.clone()]);
            half.value_state::<u64, u64, ()>(&StateDescriptor::new("v")).unwrap();
            let (_, snap) = half.snapshot(SnapshotFormat::Incremental { base: 2 }, 10 + index as u64).unwrap();
            let snap = snap.unwrap();
            assert!(snap.handle.states.iter().any(|s| s.name == "m"), "undeclared restored states stay listed");
            let (handle, _) = snap.store(&shared, &job.scoped(&format!("chk-{}", 10 + index)), "op-0.db").unwrap();
            halves.push(RestoredDb {
                checkpoint_id: 10 + index as u64,
                key_groups: range,
                handle,
                private: job.scoped(&format!("chk-{}", 10 + index)),
                shared: shared.clone(),
            });
        }
        let mut whole = rocks_from(&res, &clock, ALL, Vec::new(), halves);
        let v = whole.value_state::<u64, u64, ()>(&StateDescriptor::new("v")).unwrap();
        let m = whole.map_state::<u64, String, u64, ()>(&StateDescriptor::new("m")).unwrap();
        for k in 0..600u64 {
            assert_eq!(v.get(&k).unwrap(), Some(k));
            assert_eq!(m.entries(&k).unwrap().len(), usize::from(k < 500));
        }
        let _ = std::fs::remove_dir_all(root);
    }
}
