//! The heap state backend: objects in hash maps, per operator instance, on the task's thread.
//! Per key, namespaces are kept in a short vector (a key has few live windows at a time), so plain
//! keyed state costs one hash lookup and no key clone per access.
//!
//! TTL cleanup is incremental (Flink's `cleanupIncrementally`): every access to a state with TTL
//! also checks the next few keys of its table (a cursor walks the dense index of the table of a
//! state with TTL, wrapping around) and drops what expired; a table down to a quarter of its
//! capacity gives the memory back. Snapshots and restores leave expired values out.
//!
//! A map is kept ordered by serialized user key, the order RocksDB keeps it in.

use super::snapshot::{EntryEncoder, KeyedStateSnapshot, SnapshotTable, StateKind, encoded_len, undecodable};
use super::timers::TimerService;
use super::ttl::{Read, Stamped, Ttl, Upgrade, decode_list, is_expired, push_list_element, v1};
use super::{ListStateBackend, MapStateBackend, StateDescriptor, Timers, ValueStateBackend, duplicate_state};
use crate::{MapEntry, Namespace};
use ferroflink_core::clock::Clock;
use ferroflink_core::codec::{decode, encode, encode_into};
use ferroflink_core::error::{Error, Result};
use ferroflink_core::record::{Data, Key};
use indexmap::IndexMap;
use rustc_hash::{FxBuildHasher, FxHashMap};
use serde::Serialize;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::ops::Bound;
use std::rc::Rc;
use std::sync::Arc;

/// What a table holds per key and namespace (a stamped value, a list, a map) and its canonical
/// snapshot form.
trait Slot: Sized + 'static {
    /// Drops what expired at `now`; whether anything is left.
    fn retain_live(&mut self, now: i64) -> bool;
    /// Appends the snapshot entries of what is live at `now`.
    fn snapshot<N: Serialize>(&self, now: i64, group: u16, ns: &N, enc: &mut EntryEncoder) -> Result<()>;
    /// The slot of one snapshot entry's value.
    fn decode(bytes: &[u8]) -> Result<Self>;
    /// Adds the slot of a further entry of the same key and namespace (a map's other rows).
    fn absorb(&mut self, other: Self);
    /// Converts an entry's value of format 1.
    const UPGRADE: Upgrade;
}

impl<V: Data> Slot for Stamped<V> {
    fn retain_live(&mut self, now: i64) -> bool {
        !is_expired(self.expires_at, now)
    }
    fn snapshot<N: Serialize>(&self, now: i64, group: u16, ns: &N, enc: &mut EntryEncoder) -> Result<()> {
        if is_expired(self.expires_at, now) {
            return Ok(());
        }
        enc.push(group, ns, self)
    }
    fn decode(bytes: &[u8]) -> Result<Self> {
        decode(bytes)
    }
    fn absorb(&mut self, other: Self) {
        *self = other;
    }
    const UPGRADE: Upgrade = v1::value::<V>;
}

/// A list snapshots as one entry: its elements as RocksDB stores them ([`crate::ttl`]).
impl<V: Data> Slot for Vec<Stamped<V>> {
    fn retain_live(&mut self, now: i64) -> bool {
        self.retain(|s| !is_expired(s.expires_at, now));
        !self.is_empty()
    }
    fn snapshot<N: Serialize>(&self, now: i64, group: u16, ns: &N, enc: &mut EntryEncoder) -> Result<()> {
        let mut bytes = Vec::new();
        for s in self.iter().filter(|s| !is_expired(s.expires_at, now)) {
            push_list_element(&mut bytes, s)?;
        }
        if bytes.is_empty() {
            return Ok(());
        }
        enc.push_encoded(group, ns, bytes)
    }
    fn decode(bytes: &[u8]) -> Result<Self> {
        decode_list(bytes)
    }
    fn absorb(&mut self, other: Self) {
        self.extend(other);
    }
    const UPGRADE: Upgrade = v1::list::<V>;
}

/// A map: serialized user key to stamped value, in key byte order.
struct Rows<UK, UV>(BTreeMap<Vec<u8>, Stamped<UV>>, PhantomData<fn() -> UK>);

/// A map snapshots one entry per user key, valued `(user key, stamped value)`: the rows the
/// RocksDB backend stores.
impl<UK: Key, UV: Data> Slot for Rows<UK, UV> {
    fn retain_live(&mut self, now: i64) -> bool {
        self.0.retain(|_, s| !is_expired(s.expires_at, now));
        !self.0.is_empty()
    }
    fn snapshot<N: Serialize>(&self, now: i64, group: u16, ns: &N, enc: &mut EntryEncoder) -> Result<()> {
        for (user_key, s) in self.0.iter().filter(|(_, s)| !is_expired(s.expires_at, now)) {
            let mut bytes = user_key.clone();
            encode_into(s, &mut bytes)?;
            enc.push_encoded(group, ns, bytes)?;
        }
        Ok(())
    }
    fn decode(bytes: &[u8]) -> Result<Self> {
        let (user_key, value) = bytes.split_at(encoded_len::<UK>(bytes)?);
        Ok(Rows(BTreeMap::from([(user_key.to_vec(), decode(value)?)]), PhantomData))
    }
    fn absorb(&mut self, other: Self) {
        self.0.extend(other.0);
    }
    const UPGRADE: Upgrade = v1::map_row::<UK, UV>;
}

/// Per key, the namespaces and their slots. The keys of a state without TTL are in a plain hash
/// map; those of a state with TTL in one with dense indices, which the incremental cleanup walks
/// with a cursor.
enum Table<K, N, S> {
    Plain(FxHashMap<K, Vec<(N, S)>>),
    Indexed { map: IndexMap<K, Vec<(N, S)>, FxBuildHasher>, cursor: usize },
}

impl<K: Key, N: Namespace, S: Slot> Table<K, N, S> {
    fn new(ttl: bool) -> Self {
        if ttl { Table::Indexed { map: IndexMap::default(), cursor: 0 } } else { Table::Plain(FxHashMap::default()) }
    }

    fn slots(&mut self, key: &K) -> Option<&mut Vec<(N, S)>> {
        match self {
            Table::Plain(map) => map.get_mut(key),
            Table::Indexed { map, .. } => map.get_mut(key),
        }
    }

    fn slot(&mut self, key: &K, ns: &N) -> Option<&mut S> {
        self.slots(key)?.iter_mut().find(|(n, _)| n == ns).map(|(_, s)| s)
    }

    fn slot_or_insert(&mut self, key: &K, ns: &N, init: impl FnOnce() -> S) -> &mut S {
        let slots = match self {
            Table::Plain(map) => {
                if !map.contains_key(key) {
                    map.insert(key.clone(), Vec::with_capacity(1));
                }
                map.get_mut(key).expect("inserted above")
            }
            Table::Indexed { map, .. } => match map.get_index_of(key) {
                Some(i) => &mut map[i],
                None => map.entry(key.clone()).or_insert_with(|| Vec::with_capacity(1)),
            },
        };
        let pos = match slots.iter().position(|(n, _)| n == ns) {
            Some(p) => p,
            None => {
                slots.push((ns.clone(), init()));
                slots.len() - 1
            }
        };
        &mut slots[pos].1
    }

    fn remove(&mut self, key: &K, ns: &N) {
        let Some(slots) = self.slots(key) else { return };
        slots.retain(|(n, _)| n != ns);
        if slots.is_empty() {
            match self {
                Table::Plain(map) => {
                    map.remove(key);
                }
                Table::Indexed { map, .. } => {
                    map.swap_remove(key);
                }
            }
        }
    }

    fn for_each(&self, mut f: impl FnMut(&K, &[(N, S)]) -> Result<()>) -> Result<()> {
        match self {
            Table::Plain(map) => map.iter().try_for_each(|(k, v)| f(k, v)),
            Table::Indexed { map, .. } => map.iter().try_for_each(|(k, v)| f(k, v)),
        }
    }

    /// Checks the next `budget` keys for expired values, and gives memory back once the table is
    /// down to a quarter of its capacity (only here: a table whose keys come and go, as windows'
    /// do, keeps its capacity).
    fn cleanup(&mut self, now: i64, budget: usize) {
        let Table::Indexed { map, cursor } = self else { return };
        for _ in 0..budget.min(map.len()) {
            if *cursor >= map.len() {
                *cursor = 0;
            }
            let slots = &mut map[*cursor];
            slots.retain_mut(|(_, s)| s.retain_live(now));
            if slots.is_empty() {
                map.swap_remove_index(*cursor);
            } else {
                *cursor += 1;
            }
        }
        if map.capacity() > 1024 && map.len() < map.capacity() / 4 {
            map.shrink_to(map.len() * 2);
        }
    }
}

/// A declared state's table with its TTL policy.
struct State<K, N, S> {
    table: RefCell<Table<K, N, S>>,
    ttl: Ttl,
}

impl<K: Key, N: Namespace, S: Slot> State<K, N, S> {
    /// Runs `f` on the table, then the incremental TTL cleanup if the state has TTL.
    #[inline]
    fn with<R>(&self, f: impl FnOnce(&mut Table<K, N, S>) -> R) -> R {
        let mut table = self.table.borrow_mut();
        let r = f(&mut table);
        if let Some(c) = self.ttl.config() {
            table.cleanup(self.ttl.now(), c.cleanup_size);
        }
        r
    }
}

impl<K: Key, N: Namespace, S: Slot> SnapshotTable for State<K, N, S> {
    fn snapshot(&self, enc: &mut EntryEncoder) -> Result<()> {
        let now = self.ttl.now();
        self.table.borrow().for_each(|key, slots| {
            let group = enc.key(key)?;
            for (ns, slot) in slots {
                slot.snapshot(now, group, ns, enc)?;
            }
            Ok(())
        })
    }

    fn restore(&self, snapshot: &KeyedStateSnapshot) -> Result<()> {
        let state = &snapshot.name;
        let bad = |what: &str, err: Error| undecodable(state, what, err);
        let now = self.ttl.now();
        let mut table = self.table.borrow_mut();
        for e in &snapshot.entries {
            let key: K = decode(&e.key).map_err(|err| bad("key", err))?;
            let ns: N = decode(&e.namespace).map_err(|err| bad("namespace", err))?;
            let mut slot = if snapshot.legacy {
                S::decode(&S::UPGRADE(&e.value).map_err(|err| bad("value", err))?)
            } else {
                S::decode(&e.value)
            }
            .map_err(|err| bad("value", err))?;
            if !slot.retain_live(now) {
                continue;
            }
            match table.slot(&key, &ns) {
                Some(existing) => existing.absorb(slot),
                None => {
                    table.slot_or_insert(&key, &ns, || slot);
                }
            }
        }
        Ok(())
    }
}

/// The heap backend of one operator instance.
pub struct HeapKeyedStateBackend {
    clock: Arc<dyn Clock>,
    max_parallelism: usize,
    tables: Vec<(String, StateKind, Rc<dyn SnapshotTable>)>,
    restored: Vec<KeyedStateSnapshot>,
}

impl HeapKeyedStateBackend {
    /// A backend whose TTL uses `clock`, for `max_parallelism` key groups.
    pub fn new(clock: Arc<dyn Clock>, max_parallelism: usize) -> Self {
        HeapKeyedStateBackend { clock, max_parallelism, tables: Vec::new(), restored: Vec::new() }
    }

    /// A backend that fills each state from `restored` when the operator declares it.
    pub fn restoring(clock: Arc<dyn Clock>, max_parallelism: usize, restored: Vec<KeyedStateSnapshot>) -> Self {
        HeapKeyedStateBackend { restored, ..Self::new(clock, max_parallelism) }
    }

    fn register(&mut self, name: &str, kind: StateKind, table: Rc<dyn SnapshotTable>) -> Result<()> {
        if self.tables.iter().any(|(n, _, _)| n == name) {
            return Err(duplicate_state(name));
        }
        if let Some(pos) = self.restored.iter().position(|s| s.name == name) {
            let snapshot = self.restored.swap_remove(pos);
            if snapshot.kind != kind {
                return Err(Error::InvalidJob(format!(
                    "state '{name}' is a {} in the snapshot but the job declares it as a {kind}",
                    snapshot.kind
                )));
            }
            table.restore(&snapshot)?;
        }
        self.tables.push((name.to_string(), kind, table));
        Ok(())
    }

    fn state<K: Key, N: Namespace, S: Slot>(
        &mut self,
        desc: &StateDescriptor,
        kind: StateKind,
    ) -> Result<Rc<State<K, N, S>>> {
        let table = RefCell::new(Table::new(desc.ttl.is_some()));
        let state = Rc::new(State { table, ttl: Ttl::new(desc.ttl, self.clock.clone()) });
        self.register(&desc.name, kind, state.clone())?;
        Ok(state)
    }

    pub(super) fn value<K: Key, V: Data, N: Namespace>(
        &mut self,
        desc: &StateDescriptor,
    ) -> Result<Box<dyn ValueStateBackend<K, N, V>>> {
        Ok(Box::new(HeapValue(self.state::<K, N, Stamped<V>>(desc, StateKind::Value)?)))
    }

    pub(super) fn list<K: Key, V: Data, N: Namespace>(
        &mut self,
        desc: &StateDescriptor,
    ) -> Result<Box<dyn ListStateBackend<K, N, V>>> {
        Ok(Box::new(HeapList(self.state::<K, N, Vec<Stamped<V>>>(desc, StateKind::List)?)))
    }

    pub(super) fn map<K: Key, UK: Key, UV: Data, N: Namespace>(
        &mut self,
        desc: &StateDescriptor,
    ) -> Result<Box<dyn MapStateBackend<K, N, UK, UV>>> {
        Ok(Box::new(HeapMap(self.state::<K, N, Rows<UK, UV>>(desc, StateKind::Map)?)))
    }

    pub(super) fn timers<K: Key, N: Namespace>(&mut self, name: &str) -> Result<Timers<K, N>> {
        let service = Rc::new(RefCell::new(TimerService::<K, N>::default()));
        self.register(name, StateKind::Timers, service.clone())?;
        Ok(Timers::heap(service))
    }

    pub(super) fn state_names(&self) -> Vec<String> {
        self.tables.iter().map(|(n, _, _)| n.clone()).collect()
    }

    pub(super) fn snapshot(&self) -> Result<Vec<KeyedStateSnapshot>> {
        self.tables
            .iter()
            .map(|(name, kind, table)| {
                let mut enc = EntryEncoder::new(self.max_parallelism);
                table.snapshot(&mut enc)?;
                Ok(KeyedStateSnapshot { name: name.clone(), kind: *kind, entries: enc.finish(), legacy: false })
            })
            .collect()
    }

    pub(super) fn unrestored(&self) -> impl Iterator<Item = &str> {
        self.restored.iter().map(|s| s.name.as_str())
    }
}

/// What a read of a stamped value returns (cloned), after TTL: `None` for an expired value unless
/// it is visible; whether to remove it.
#[inline]
fn read<V: Clone>(ttl: &Ttl, s: &mut Stamped<V>) -> (Option<V>, bool) {
    match ttl.read(s) {
        Read::Live { .. } => (Some(s.value.clone()), false),
        Read::Expired { visible } => (visible.then(|| s.value.clone()), true),
    }
}

struct HeapValue<K, N, V>(Rc<State<K, N, Stamped<V>>>);

impl<K: Key, N: Namespace, V: Data> ValueStateBackend<K, N, V> for HeapValue<K, N, V> {
    fn get(&self, key: &K, ns: &N) -> Result<Option<V>> {
        let ttl = &self.0.ttl;
        Ok(self.0.with(|t| {
            let (value, expired) = read(ttl, t.slot(key, ns)?);
            if expired {
                t.remove(key, ns);
            }
            value
        }))
    }

    fn put(&self, key: &K, ns: &N, value: V) -> Result<()> {
        let stamped = self.0.ttl.stamp(value);
        self.0.with(|t| match t.slot(key, ns) {
            Some(slot) => *slot = stamped,
            None => {
                t.slot_or_insert(key, ns, || stamped);
            }
        });
        Ok(())
    }

    fn clear(&self, key: &K, ns: &N) -> Result<()> {
        self.0.with(|t| t.remove(key, ns));
        Ok(())
    }

    fn modify(&self, key: &K, ns: &N, init: &mut dyn FnMut() -> V, f: &mut dyn FnMut(&mut V)) -> Result<bool> {
        let ttl = &self.0.ttl;
        let expires_at = ttl.expiry();
        Ok(self.0.with(|t| {
            if let Some(slot) = t.slot(key, ns) {
                let unset = match ttl.read(slot) {
                    Read::Live { .. } => false,
                    Read::Expired { visible } => !visible,
                };
                if unset {
                    slot.value = init();
                }
                f(&mut slot.value);
                slot.expires_at = expires_at;
                return unset;
            }
            let mut value = init();
            f(&mut value);
            t.slot_or_insert(key, ns, || Stamped { value, expires_at });
            true
        }))
    }

    fn for_each_namespace(&self, key: &K, f: &mut dyn FnMut(&N, &V)) -> Result<()> {
        let now = self.0.ttl.config().map(|_| self.0.ttl.now());
        self.0.with(|t| {
            for (ns, s) in t.slots(key).into_iter().flatten() {
                if now.is_none_or(|now| !is_expired(s.expires_at, now)) {
                    f(ns, &s.value);
                }
            }
        });
        Ok(())
    }
}

struct HeapList<K, N, V>(Rc<State<K, N, Vec<Stamped<V>>>>);

impl<K: Key, N: Namespace, V: Data> ListStateBackend<K, N, V> for HeapList<K, N, V> {
    fn get(&self, key: &K, ns: &N) -> Result<Vec<V>> {
        let ttl = &self.0.ttl;
        Ok(self.0.with(|t| {
            let Some(list) = t.slot(key, ns) else { return Vec::new() };
            let mut values = Vec::with_capacity(list.len());
            list.retain_mut(|s| {
                let (value, expired) = read(ttl, s);
                values.extend(value);
                !expired
            });
            if list.is_empty() {
                t.remove(key, ns);
            }
            values
        }))
    }

    fn add(&self, key: &K, ns: &N, value: V) -> Result<()> {
        let stamped = self.0.ttl.stamp(value);
        self.0.with(|t| t.slot_or_insert(key, ns, Vec::new).push(stamped));
        Ok(())
    }

    fn update(&self, key: &K, ns: &N, values: Vec<V>) -> Result<()> {
        let ttl = &self.0.ttl;
        self.0.with(|t| {
            if values.is_empty() {
                t.remove(key, ns);
            } else {
                *t.slot_or_insert(key, ns, Vec::new) = values.into_iter().map(|v| ttl.stamp(v)).collect();
            }
        });
        Ok(())
    }

    fn clear(&self, key: &K, ns: &N) -> Result<()> {
        self.0.with(|t| t.remove(key, ns));
        Ok(())
    }
}

struct HeapMap<K, N, UK, UV>(Rc<State<K, N, Rows<UK, UV>>>);

impl<K: Key, N: Namespace, UK: Key, UV: Data> MapStateBackend<K, N, UK, UV> for HeapMap<K, N, UK, UV> {
    fn get(&self, key: &K, ns: &N, user_key: &UK) -> Result<Option<UV>> {
        let user_key = encode(user_key)?;
        let ttl = &self.0.ttl;
        Ok(self.0.with(|t| {
            let rows = t.slot(key, ns)?;
            let (value, expired) = read(ttl, rows.0.get_mut(&user_key)?);
            if expired {
                rows.0.remove(&user_key);
                if rows.0.is_empty() {
                    t.remove(key, ns);
                }
            }
            value
        }))
    }

    fn put(&self, key: &K, ns: &N, user_key: UK, value: UV) -> Result<()> {
        let user_key = encode(&user_key)?;
        let stamped = self.0.ttl.stamp(value);
        self.0.with(|t| t.slot_or_insert(key, ns, || Rows(BTreeMap::new(), PhantomData)).0.insert(user_key, stamped));
        Ok(())
    }

    fn remove(&self, key: &K, ns: &N, user_key: &UK) -> Result<()> {
        let user_key = encode(user_key)?;
        self.0.with(|t| {
            if let Some(rows) = t.slot(key, ns) {
                rows.0.remove(&user_key);
                if rows.0.is_empty() {
                    t.remove(key, ns);
                }
            }
        });
        Ok(())
    }

    fn scan(&self, key: &K, ns: &N, bound: Bound<&[u8]>, reverse: bool, limit: usize) -> Result<Vec<MapEntry<UK, UV>>> {
        let ttl = &self.0.ttl;
        self.0.with(|t| {
            let Some(rows) = t.slot(key, ns) else { return Ok(Vec::new()) };
            let range = if reverse { (Bound::Unbounded, bound) } else { (bound, Bound::Unbounded) };
            let mut out = Vec::new();
            let mut expired = Vec::new();
            let mut visit = |(k, s): (&Vec<u8>, &mut Stamped<UV>)| -> Result<bool> {
                let (value, gone) = read(ttl, s);
                if gone {
                    expired.push(k.clone());
                }
                if let Some(value) = value {
                    out.push((k.clone(), decode(k)?, value));
                }
                Ok(out.len() < limit)
            };
            let entries = rows.0.range_mut::<[u8], _>(range);
            if reverse {
                for row in entries.rev() {
                    if !visit(row)? {
                        break;
                    }
                }
            } else {
                for row in entries {
                    if !visit(row)? {
                        break;
                    }
                }
            }
            for k in expired {
                rows.0.remove(&k);
            }
            if rows.0.is_empty() {
                t.remove(key, ns);
            }
            Ok(out)
        })
    }

    fn clear(&self, key: &K, ns: &N) -> Result<()> {
        self.0.with(|t| t.remove(key, ns));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::{KeyedStateBackend, StateDescriptor};
    use ferroflink_core::clock::ManualClock;
    use std::sync::Arc;

    fn backend(clock: &ManualClock) -> KeyedStateBackend {
        KeyedStateBackend::Heap(super::HeapKeyedStateBackend::new(Arc::new(clock.clone()), 128))
    }

    #[test]
    fn conforms() {
        crate::conformance::all(&|clock, restored| {
            KeyedStateBackend::Heap(super::HeapKeyedStateBackend::restoring(Arc::new(clock.clone()), 128, restored))
        });
    }

    #[test]
    fn snapshots_restore_by_key_group_range() {
        use crate::snapshot::OperatorSubtaskState;
        use ferroflink_core::element::SnapshotFormat;
        use ferroflink_core::keygroup::{KeyGroupAssigner, KeyGroupRange};
        let clock = ManualClock::new(0);
        let mut b = backend(&clock);
        let v = b.value_state::<u64, u64, ()>(&StateDescriptor::new("v")).unwrap();
        let l = b.list_state::<u64, String, i64>(&StateDescriptor::new("l")).unwrap();
        let m = b.map_state::<u64, String, u64, ()>(&StateDescriptor::new("m")).unwrap();
        let t = b.timer_service::<u64, i64>("t").unwrap();
        for k in 0..200u64 {
            v.put(&k, k * 10).unwrap();
            l.add_in(&k, &7, format!("x{k}")).unwrap();
            m.put(&k, "a".into(), k).unwrap();
            t.register_event_time_timer(&k, &(k as i64), 1_000 + k as i64).unwrap();
        }
        let snapshot =
            OperatorSubtaskState { keyed: b.snapshot(SnapshotFormat::Canonical, 1).unwrap().0, operator: Vec::new() };
        let assigner = KeyGroupAssigner::new(128);
        let mut scratch = Vec::new();
        let mut seen_timers = 0;
        for index in 0..3 {
            let range = KeyGroupRange::for_operator(128, 3, index);
            let mut part = snapshot.clone();
            part.retain_key_groups(range);
            let mut r = KeyedStateBackend::Heap(super::HeapKeyedStateBackend::restoring(
                Arc::new(clock.clone()),
                128,
                part.keyed,
            ));
            let v = r.value_state::<u64, u64, ()>(&StateDescriptor::new("v")).unwrap();
            let l = r.list_state::<u64, String, i64>(&StateDescriptor::new("l")).unwrap();
            let m = r.map_state::<u64, String, u64, ()>(&StateDescriptor::new("m")).unwrap();
            let t = r.timer_service::<u64, i64>("t").unwrap();
            assert!(r.unrestored().is_empty());
            for k in 0..200u64 {
                let mine = range.contains(assigner.key_group(&k, &mut scratch));
                assert_eq!(v.get(&k).unwrap(), mine.then_some(k * 10));
                assert_eq!(l.get_in(&k, &7).unwrap(), if mine { vec![format!("x{k}")] } else { vec![] });
                assert_eq!(m.get(&k, &"a".into()).unwrap(), mine.then_some(k));
            }
            while let Some((time, k, ns)) = t.pop_event_timer(i64::MAX).unwrap() {
                assert_eq!((time, ns), (1_000 + k as i64, k as i64));
                assert!(range.contains(assigner.key_group(&k, &mut scratch)));
                seen_timers += 1;
            }
        }
        assert_eq!(seen_timers, 200, "every timer restored exactly once");

        let mut wrong = KeyedStateBackend::Heap(super::HeapKeyedStateBackend::restoring(
            Arc::new(clock.clone()),
            128,
            snapshot.keyed.clone(),
        ));
        let e = wrong.list_state::<u64, u64, ()>(&StateDescriptor::new("v")).err().unwrap().to_string();
        assert!(e.contains("'v' is a value state in the snapshot") && e.contains("list state"), "{e}");
        let e = wrong.value_state::<String, u64, ()>(&StateDescriptor::new("m")).err().unwrap().to_string();
        assert!(e.contains("map state"), "{e}");
        assert!(wrong.unrestored().contains(&"l".to_string()));
    }
}
