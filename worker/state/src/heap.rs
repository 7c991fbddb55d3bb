//! The heap state backend: objects in hash maps, per operator instance, on the task's thread.
//! Per key, namespaces are kept in a short vector (a key has few live windows at a time), so plain
//! keyed state costs one hash lookup and no key clone per access.

use super::snapshot::{EntryEncoder, KeyedEntry, KeyedStateSnapshot, SnapshotTable, StateKind, decode_entry};
use super::ttl::{Stamped, Ttl};
use super::{ListStateBackend, MapStateBackend, StateDescriptor, Timers, ValueStateBackend, duplicate_state};
use crate::Namespace;
use ferroflink_core::clock::Clock;
use ferroflink_core::error::{Error, Result};
use ferroflink_core::record::{Data, Key};
use rustc_hash::FxHashMap;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

/// Per key, the namespaces and their slots.
struct Table<K, N, S> {
    map: FxHashMap<K, Vec<(N, S)>>,
}

impl<K: Key, N: Namespace, S> Table<K, N, S> {
    fn new() -> Self {
        Table { map: FxHashMap::default() }
    }

    fn slot(&mut self, key: &K, ns: &N) -> Option<&mut S> {
        self.map.get_mut(key)?.iter_mut().find(|(n, _)| n == ns).map(|(_, s)| s)
    }

    fn slot_or_insert(&mut self, key: &K, ns: &N, init: impl FnOnce() -> S) -> &mut S {
        if !self.map.contains_key(key) {
            self.map.insert(key.clone(), Vec::with_capacity(1));
        }
        let v = self.map.get_mut(key).expect("inserted above");
        let pos = match v.iter().position(|(n, _)| n == ns) {
            Some(p) => p,
            None => {
                v.push((ns.clone(), init()));
                v.len() - 1
            }
        };
        &mut v[pos].1
    }

    fn remove(&mut self, key: &K, ns: &N) {
        if let Some(v) = self.map.get_mut(key) {
            v.retain(|(n, _)| n != ns);
            if v.is_empty() {
                self.map.remove(key);
            }
        }
    }
}

type Shared<K, N, S> = Rc<RefCell<Table<K, N, S>>>;

impl<K: Key, N: Namespace, S: Serialize + DeserializeOwned> SnapshotTable for RefCell<Table<K, N, S>> {
    fn snapshot(&self, enc: &mut EntryEncoder) -> Result<()> {
        for (key, slots) in &self.borrow().map {
            let group = enc.key(key)?;
            for (ns, slot) in slots {
                enc.push(group, ns, slot)?;
            }
        }
        Ok(())
    }

    fn restore(&self, state: &str, entries: &[KeyedEntry]) -> Result<()> {
        let mut table = self.borrow_mut();
        for e in entries {
            let (key, ns, slot): (K, N, S) = decode_entry(state, e)?;
            // A snapshot holds each key and namespace once.
            table.map.entry(key).or_insert_with(|| Vec::with_capacity(1)).push((ns, slot));
        }
        Ok(())
    }
}

/// Map state snapshots one entry per user key, valued `(user key, stamped value)`: the rows the
/// RocksDB backend stores.
struct MapRows<K, N, UK, UV>(Shared<K, N, FxHashMap<UK, Stamped<UV>>>);

impl<K: Key, N: Namespace, UK: Key, UV: Data> SnapshotTable for MapRows<K, N, UK, UV> {
    fn snapshot(&self, enc: &mut EntryEncoder) -> Result<()> {
        for (key, slots) in &self.0.borrow().map {
            let group = enc.key(key)?;
            for (ns, map) in slots {
                for row in map {
                    enc.push(group, ns, &row)?;
                }
            }
        }
        Ok(())
    }

    fn restore(&self, state: &str, entries: &[KeyedEntry]) -> Result<()> {
        let mut table = self.0.borrow_mut();
        for e in entries {
            let (key, ns, (user_key, value)): (K, N, (UK, Stamped<UV>)) = decode_entry(state, e)?;
            table.slot_or_insert(&key, &ns, FxHashMap::default).insert(user_key, value);
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
            table.restore(name, &snapshot.entries)?;
        }
        self.tables.push((name.to_string(), kind, table));
        Ok(())
    }

    fn table<K: Key, N: Namespace, S: Serialize + DeserializeOwned + 'static>(
        &mut self,
        desc: &StateDescriptor,
        kind: StateKind,
    ) -> Result<(Shared<K, N, S>, Ttl)> {
        let table: Shared<K, N, S> = Rc::new(RefCell::new(Table::new()));
        self.register(&desc.name, kind, table.clone())?;
        Ok((table, Ttl::new(desc.ttl, self.clock.clone())))
    }

    pub(super) fn value<K: Key, V: Data, N: Namespace>(
        &mut self,
        desc: &StateDescriptor,
    ) -> Result<Box<dyn ValueStateBackend<K, N, V>>> {
        let (table, ttl) = self.table(desc, StateKind::Value)?;
        Ok(Box::new(HeapValue::<K, N, V> { table, ttl }))
    }

    pub(super) fn list<K: Key, V: Data, N: Namespace>(
        &mut self,
        desc: &StateDescriptor,
    ) -> Result<Box<dyn ListStateBackend<K, N, V>>> {
        let (table, ttl) = self.table(desc, StateKind::List)?;
        Ok(Box::new(HeapList::<K, N, V> { table, ttl }))
    }

    pub(super) fn map<K: Key, UK: Key, UV: Data, N: Namespace>(
        &mut self,
        desc: &StateDescriptor,
    ) -> Result<Box<dyn MapStateBackend<K, N, UK, UV>>> {
        let table: Shared<K, N, FxHashMap<UK, Stamped<UV>>> = Rc::new(RefCell::new(Table::new()));
        self.register(&desc.name, StateKind::Map, Rc::new(MapRows(table.clone())))?;
        Ok(Box::new(HeapMap::<K, N, UK, UV> { table, ttl: Ttl::new(desc.ttl, self.clock.clone()) }))
    }

    pub(super) fn timers<K: Key, N: Namespace>(&mut self, name: &str) -> Result<Timers<K, N>> {
        let timers = Timers::<K, N>::default();
        self.register(name, StateKind::Timers, timers.shared())?;
        Ok(timers)
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
                Ok(KeyedStateSnapshot { name: name.clone(), kind: *kind, entries: enc.finish() })
            })
            .collect()
    }

    pub(super) fn unrestored(&self) -> impl Iterator<Item = &str> {
        self.restored.iter().map(|s| s.name.as_str())
    }
}

struct HeapValue<K, N, V> {
    table: Shared<K, N, Stamped<V>>,
    ttl: Ttl,
}

impl<K: Key, N: Namespace, V: Data> ValueStateBackend<K, N, V> for HeapValue<K, N, V> {
    fn get(&self, key: &K, ns: &N) -> Result<Option<V>> {
        let mut t = self.table.borrow_mut();
        let Some(slot) = t.slot(key, ns) else { return Ok(None) };
        if self.ttl.expired(slot) {
            t.remove(key, ns);
            return Ok(None);
        }
        self.ttl.on_read(slot);
        Ok(Some(slot.value.clone()))
    }

    fn put(&self, key: &K, ns: &N, value: V) -> Result<()> {
        let stamped = self.ttl.stamp(value);
        let mut t = self.table.borrow_mut();
        match t.slot(key, ns) {
            Some(slot) => *slot = stamped,
            None => {
                t.slot_or_insert(key, ns, || stamped);
            }
        }
        Ok(())
    }

    fn clear(&self, key: &K, ns: &N) -> Result<()> {
        self.table.borrow_mut().remove(key, ns);
        Ok(())
    }
}

struct HeapList<K, N, V> {
    table: Shared<K, N, Vec<Stamped<V>>>,
    ttl: Ttl,
}

impl<K: Key, N: Namespace, V: Data> ListStateBackend<K, N, V> for HeapList<K, N, V> {
    fn get(&self, key: &K, ns: &N) -> Result<Vec<V>> {
        let mut t = self.table.borrow_mut();
        let Some(list) = t.slot(key, ns) else { return Ok(Vec::new()) };
        list.retain(|s| !self.ttl.expired(s));
        let values = list
            .iter_mut()
            .map(|s| {
                self.ttl.on_read(s);
                s.value.clone()
            })
            .collect::<Vec<_>>();
        if values.is_empty() {
            t.remove(key, ns);
        }
        Ok(values)
    }

    fn add(&self, key: &K, ns: &N, value: V) -> Result<()> {
        let stamped = self.ttl.stamp(value);
        self.table.borrow_mut().slot_or_insert(key, ns, Vec::new).push(stamped);
        Ok(())
    }

    fn update(&self, key: &K, ns: &N, values: Vec<V>) -> Result<()> {
        let mut t = self.table.borrow_mut();
        if values.is_empty() {
            t.remove(key, ns);
            return Ok(());
        }
        let stamped = values.into_iter().map(|v| self.ttl.stamp(v)).collect();
        *t.slot_or_insert(key, ns, Vec::new) = stamped;
        Ok(())
    }

    fn clear(&self, key: &K, ns: &N) -> Result<()> {
        self.table.borrow_mut().remove(key, ns);
        Ok(())
    }
}

struct HeapMap<K, N, UK, UV> {
    table: Shared<K, N, FxHashMap<UK, Stamped<UV>>>,
    ttl: Ttl,
}

impl<K: Key, N: Namespace, UK: Key, UV: Data> MapStateBackend<K, N, UK, UV> for HeapMap<K, N, UK, UV> {
    fn get(&self, key: &K, ns: &N, user_key: &UK) -> Result<Option<UV>> {
        let mut t = self.table.borrow_mut();
        let Some(map) = t.slot(key, ns) else { return Ok(None) };
        let Some(slot) = map.get_mut(user_key) else { return Ok(None) };
        if self.ttl.expired(slot) {
            map.remove(user_key);
            return Ok(None);
        }
        self.ttl.on_read(slot);
        Ok(Some(slot.value.clone()))
    }

    fn put(&self, key: &K, ns: &N, user_key: UK, value: UV) -> Result<()> {
        let stamped = self.ttl.stamp(value);
        self.table.borrow_mut().slot_or_insert(key, ns, FxHashMap::default).insert(user_key, stamped);
        Ok(())
    }

    fn remove(&self, key: &K, ns: &N, user_key: &UK) -> Result<()> {
        let mut t = self.table.borrow_mut();
        if let Some(map) = t.slot(key, ns) {
            map.remove(user_key);
            if map.is_empty() {
                t.remove(key, ns);
            }
        }
        Ok(())
    }

    fn entries(&self, key: &K, ns: &N) -> Result<Vec<(UK, UV)>> {
        let mut t = self.table.borrow_mut();
        let Some(map) = t.slot(key, ns) else { return Ok(Vec::new()) };
        map.retain(|_, s| !self.ttl.expired(s));
        Ok(map
            .iter_mut()
            .map(|(k, s)| {
                self.ttl.on_read(s);
                (k.clone(), s.value.clone())
            })
            .collect())
    }

    fn clear(&self, key: &K, ns: &N) -> Result<()> {
        self.table.borrow_mut().remove(key, ns);
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
    fn states_and_ttl_behave_as_specified() {
        crate::conformance::states(&backend);
        crate::conformance::ttl(&backend);
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
