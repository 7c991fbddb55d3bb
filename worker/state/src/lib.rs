//! Keyed state: value, list, map, reducing and aggregating state scoped to a key (and optionally a
//! namespace such as a window), with time-to-live. Non-keyed operator state is in [`operator`].
//!
//! Operators declare state in `open` through their [`KeyedStateBackend`] and get typed handles.
//! A backend implements three primitive kinds (value, list, map) behind object-safe traits;
//! reducing and aggregating state are built on value state, so every backend gets them for free.
//! The heap backend ([`heap`]) keeps objects in hash maps; a RocksDB backend implements the same
//! traits over bytes.

#[cfg(test)]
mod conformance;
pub mod heap;
pub mod incremental;
pub mod operator;
pub mod ordered;
pub mod rocksdb;
pub mod s3;
pub mod snapshot;
pub mod storage;
pub mod timers;
pub mod ttl;

use crate::incremental::IncrementalSnapshot;
use crate::ordered::{OrderedKey, ToOrdered};
pub use crate::timers::Timers;
use ferroflink_core::codec::encode;
use ferroflink_core::element::SnapshotFormat;
use ferroflink_core::error::{Error, Result};
use ferroflink_core::functions::AggregateFunction;
use ferroflink_core::record::{Data, Key};
use serde::Serialize;
use serde::de::DeserializeOwned;
use snapshot::KeyedStateSnapshot;
use std::fmt::Debug;
use std::hash::Hash;
use std::ops::Bound;
use std::sync::Arc;
use ttl::StateTtlConfig;

/// What scopes state inside a key: `()` for plain keyed state, a window for window state.
pub trait Namespace: Clone + Hash + Eq + Debug + Serialize + DeserializeOwned + 'static {}
impl<T: Clone + Hash + Eq + Debug + Serialize + DeserializeOwned + 'static> Namespace for T {}

/// Declares a state: its name (unique within the operator) and optional time-to-live.
#[derive(Clone, Debug)]
pub struct StateDescriptor {
    /// Name, unique within the operator.
    pub name: String,
    /// Time-to-live.
    pub ttl: Option<StateTtlConfig>,
}

impl StateDescriptor {
    /// A state named `name`.
    pub fn new(name: impl Into<String>) -> Self {
        StateDescriptor { name: name.into(), ttl: None }
    }

    /// Values expire per `ttl`.
    pub fn with_ttl(mut self, ttl: StateTtlConfig) -> Self {
        self.ttl = Some(ttl);
        self
    }
}

/// Value-state primitive of a backend.
pub trait ValueStateBackend<K, N, V> {
    /// The value, if set and not expired.
    fn get(&self, key: &K, ns: &N) -> Result<Option<V>>;
    /// Sets the value.
    fn put(&self, key: &K, ns: &N, value: V) -> Result<()>;
    /// Removes the value.
    fn clear(&self, key: &K, ns: &N) -> Result<()>;
    /// Changes the value in place (one lookup where the backend allows): `f` gets the value, or
    /// `init()` when it is unset or expired, and the result is stored. Whether it was unset.
    fn modify(&self, key: &K, ns: &N, init: &mut dyn FnMut() -> V, f: &mut dyn FnMut(&mut V)) -> Result<bool>;
    /// Visits the key's live value in every namespace, in no particular order (one lookup on the
    /// heap, one prefix scan on RocksDB). Expired values are left out whatever the visibility.
    fn for_each_namespace(&self, key: &K, f: &mut dyn FnMut(&N, &V)) -> Result<()>;
}

/// List-state primitive of a backend.
pub trait ListStateBackend<K, N, V> {
    /// All live elements in insertion order.
    fn get(&self, key: &K, ns: &N) -> Result<Vec<V>>;
    /// Appends an element.
    fn add(&self, key: &K, ns: &N, value: V) -> Result<()>;
    /// Replaces the list.
    fn update(&self, key: &K, ns: &N, values: Vec<V>) -> Result<()>;
    /// Removes the list.
    fn clear(&self, key: &K, ns: &N) -> Result<()>;
}

/// An entry of an ordered map scan: the user key as stored (its codec bytes), decoded, and the value.
pub type MapEntry<UK, UV> = (Vec<u8>, UK, UV);

/// Map-state primitive of a backend. Each map is ordered by the byte order of its serialized user
/// keys, the same on every backend.
pub trait MapStateBackend<K, N, UK, UV> {
    /// The value under `user_key`.
    fn get(&self, key: &K, ns: &N, user_key: &UK) -> Result<Option<UV>>;
    /// Sets the value under `user_key`.
    fn put(&self, key: &K, ns: &N, user_key: UK, value: UV) -> Result<()>;
    /// Removes `user_key`.
    fn remove(&self, key: &K, ns: &N, user_key: &UK) -> Result<()>;
    /// Up to `limit` live entries in key order from `bound` on (in reverse order back from it when
    /// `reverse`).
    fn scan(&self, key: &K, ns: &N, bound: Bound<&[u8]>, reverse: bool, limit: usize) -> Result<Vec<MapEntry<UK, UV>>>;
    /// Removes the whole map.
    fn clear(&self, key: &K, ns: &N) -> Result<()>;
}

macro_rules! unscoped {
    ($(#[$m:meta])* fn $name:ident(&self, key: &K $(, $arg:ident: $ty:ty)*) $(-> $ret:ty)? => $inner:ident) => {
        $(#[$m])*
        pub fn $name(&self, key: &K $(, $arg: $ty)*) $(-> $ret)? {
            self.$inner(key, &() $(, $arg)*)
        }
    };
}

/// A single value per key (and namespace).
pub struct ValueState<K, V, N = ()> {
    inner: Box<dyn ValueStateBackend<K, N, V>>,
}

impl<K, V, N> ValueState<K, V, N> {
    /// The value in namespace `ns`.
    pub fn get_in(&self, key: &K, ns: &N) -> Result<Option<V>> {
        self.inner.get(key, ns)
    }
    /// Sets the value in namespace `ns`.
    pub fn put_in(&self, key: &K, ns: &N, value: V) -> Result<()> {
        self.inner.put(key, ns, value)
    }
    /// Clears the value in namespace `ns`.
    pub fn clear_in(&self, key: &K, ns: &N) -> Result<()> {
        self.inner.clear(key, ns)
    }
    /// Visits the key's value in every namespace that has one, in no particular order.
    pub fn for_each_namespace(&self, key: &K, mut f: impl FnMut(&N, &V)) -> Result<()> {
        self.inner.for_each_namespace(key, &mut f)
    }
    /// Changes the value in namespace `ns` in place, starting from `init()` when it is unset;
    /// whether it was unset. One read and one write, one lookup on the heap backend.
    pub fn modify_in(&self, key: &K, ns: &N, init: impl FnOnce() -> V, f: impl FnOnce(&mut V)) -> Result<bool> {
        let (mut init, mut f) = (Some(init), Some(f));
        self.inner.modify(key, ns, &mut || (init.take().expect("modify calls init at most once"))(), &mut |v| {
            (f.take().expect("modify calls f once"))(v)
        })
    }
}

impl<K, V> ValueState<K, V, ()> {
    unscoped!(/// The value (Flink's `value()`).
        fn get(&self, key: &K) -> Result<Option<V>> => get_in);
    unscoped!(/// Sets the value (Flink's `update()`).
        fn put(&self, key: &K, value: V) -> Result<()> => put_in);
    unscoped!(/// Clears the value.
        fn clear(&self, key: &K) -> Result<()> => clear_in);
}

/// A list of values per key (and namespace).
pub struct ListState<K, V, N = ()> {
    inner: Box<dyn ListStateBackend<K, N, V>>,
}

impl<K, V, N> ListState<K, V, N> {
    /// The elements in namespace `ns`.
    pub fn get_in(&self, key: &K, ns: &N) -> Result<Vec<V>> {
        self.inner.get(key, ns)
    }
    /// Appends in namespace `ns`.
    pub fn add_in(&self, key: &K, ns: &N, value: V) -> Result<()> {
        self.inner.add(key, ns, value)
    }
    /// Replaces the list in namespace `ns`.
    pub fn update_in(&self, key: &K, ns: &N, values: Vec<V>) -> Result<()> {
        self.inner.update(key, ns, values)
    }
    /// Clears the list in namespace `ns`.
    pub fn clear_in(&self, key: &K, ns: &N) -> Result<()> {
        self.inner.clear(key, ns)
    }
}

impl<K, V> ListState<K, V, ()> {
    unscoped!(/// The elements.
        fn get(&self, key: &K) -> Result<Vec<V>> => get_in);
    unscoped!(/// Appends an element.
        fn add(&self, key: &K, value: V) -> Result<()> => add_in);
    unscoped!(/// Replaces the list.
        fn update(&self, key: &K, values: Vec<V>) -> Result<()> => update_in);
    unscoped!(/// Clears the list.
        fn clear(&self, key: &K) -> Result<()> => clear_in);
}

/// A map per key (and namespace), ordered by the byte order of the serialized user key (the
/// engine codec, [`ferroflink_core::codec`]: fixed-size arrays such as big-endian `[u8; 8]` sort
/// as their bytes; strings, byte strings and integers are length- or varint-prefixed, so their
/// byte order is not their natural order). Iteration fetches entries in batches: it never
/// materializes the whole map.
pub struct MapState<K, UK, UV, N = ()> {
    inner: Box<dyn MapStateBackend<K, N, UK, UV>>,
}

impl<K, UK: Key, UV, N> MapState<K, UK, UV, N> {
    /// The value under `user_key` in namespace `ns`.
    pub fn get_in(&self, key: &K, ns: &N, user_key: &UK) -> Result<Option<UV>> {
        self.inner.get(key, ns, user_key)
    }
    /// Sets `user_key` in namespace `ns`.
    pub fn put_in(&self, key: &K, ns: &N, user_key: UK, value: UV) -> Result<()> {
        self.inner.put(key, ns, user_key, value)
    }
    /// Removes `user_key` in namespace `ns`.
    pub fn remove_in(&self, key: &K, ns: &N, user_key: &UK) -> Result<()> {
        self.inner.remove(key, ns, user_key)
    }
    /// All entries in namespace `ns`, in key order.
    pub fn entries_in(&self, key: &K, ns: &N) -> Result<Vec<(UK, UV)>> {
        self.iter_in(key, ns).collect()
    }
    /// The entries of namespace `ns` in key order.
    pub fn iter_in<'a>(&'a self, key: &'a K, ns: &'a N) -> MapIter<'a, K, UK, UV, N> {
        MapIter::new(&*self.inner, key, ns, Bound::Unbounded, false)
    }
    /// The entries of namespace `ns` in key order from `from` (inclusive) on: a range scan.
    pub fn iter_from_in<'a>(&'a self, key: &'a K, ns: &'a N, from: &UK) -> Result<MapIter<'a, K, UK, UV, N>> {
        Ok(MapIter::new(&*self.inner, key, ns, Bound::Included(encode(from)?), false))
    }
    /// The entries of namespace `ns` in reverse key order.
    pub fn iter_rev_in<'a>(&'a self, key: &'a K, ns: &'a N) -> MapIter<'a, K, UK, UV, N> {
        MapIter::new(&*self.inner, key, ns, Bound::Unbounded, true)
    }
    /// The entry with the smallest key in namespace `ns`.
    pub fn first_in(&self, key: &K, ns: &N) -> Result<Option<(UK, UV)>> {
        Ok(self.inner.scan(key, ns, Bound::Unbounded, false, 1)?.pop().map(|(_, k, v)| (k, v)))
    }
    /// The entry with the greatest key in namespace `ns`.
    pub fn last_in(&self, key: &K, ns: &N) -> Result<Option<(UK, UV)>> {
        Ok(self.inner.scan(key, ns, Bound::Unbounded, true, 1)?.pop().map(|(_, k, v)| (k, v)))
    }
    /// Clears the map in namespace `ns`.
    pub fn clear_in(&self, key: &K, ns: &N) -> Result<()> {
        self.inner.clear(key, ns)
    }
}

impl<K, UK: Key, UV> MapState<K, UK, UV, ()> {
    /// The value under `user_key`.
    pub fn get(&self, key: &K, user_key: &UK) -> Result<Option<UV>> {
        self.get_in(key, &(), user_key)
    }
    /// Sets `user_key`.
    pub fn put(&self, key: &K, user_key: UK, value: UV) -> Result<()> {
        self.put_in(key, &(), user_key, value)
    }
    /// Removes `user_key`.
    pub fn remove(&self, key: &K, user_key: &UK) -> Result<()> {
        self.remove_in(key, &(), user_key)
    }
    /// All entries, in key order.
    pub fn entries(&self, key: &K) -> Result<Vec<(UK, UV)>> {
        self.entries_in(key, &())
    }
    /// The entries in key order.
    pub fn iter<'a>(&'a self, key: &'a K) -> MapIter<'a, K, UK, UV, ()> {
        self.iter_in(key, &())
    }
    /// The entries in key order from `from` (inclusive) on.
    pub fn iter_from<'a>(&'a self, key: &'a K, from: &UK) -> Result<MapIter<'a, K, UK, UV, ()>> {
        self.iter_from_in(key, &(), from)
    }
    /// The entries in reverse key order.
    pub fn iter_rev<'a>(&'a self, key: &'a K) -> MapIter<'a, K, UK, UV, ()> {
        self.iter_rev_in(key, &())
    }
    /// Clears the map.
    pub fn clear(&self, key: &K) -> Result<()> {
        self.clear_in(key, &())
    }
}

/// Entries a map iteration fetches from its backend at a time.
const SCAN_BATCH: usize = 128;

/// A cursor over one map in key order (or reverse), fetching [`SCAN_BATCH`] entries at a time.
/// Writes to the map while iterating are seen from the next batch on.
pub struct MapIter<'a, K, UK, UV, N> {
    inner: &'a dyn MapStateBackend<K, N, UK, UV>,
    key: &'a K,
    ns: &'a N,
    bound: Bound<Vec<u8>>,
    reverse: bool,
    batch: std::vec::IntoIter<MapEntry<UK, UV>>,
    done: bool,
}

impl<'a, K, UK, UV, N> MapIter<'a, K, UK, UV, N> {
    fn new(
        inner: &'a dyn MapStateBackend<K, N, UK, UV>,
        key: &'a K,
        ns: &'a N,
        bound: Bound<Vec<u8>>,
        reverse: bool,
    ) -> Self {
        MapIter { inner, key, ns, bound, reverse, batch: Vec::new().into_iter(), done: false }
    }
}

impl<K, UK, UV, N> Iterator for MapIter<'_, K, UK, UV, N> {
    type Item = Result<(UK, UV)>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some((_, k, v)) = self.batch.next() {
                return Some(Ok((k, v)));
            }
            if self.done {
                return None;
            }
            let bound = match &self.bound {
                Bound::Included(b) => Bound::Included(b.as_slice()),
                Bound::Excluded(b) => Bound::Excluded(b.as_slice()),
                Bound::Unbounded => Bound::Unbounded,
            };
            match self.inner.scan(self.key, self.ns, bound, self.reverse, SCAN_BATCH) {
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
                Ok(rows) => {
                    self.done = rows.len() < SCAN_BATCH;
                    if let Some((last, _, _)) = rows.last() {
                        self.bound = Bound::Excluded(last.clone());
                    }
                    self.batch = rows.into_iter();
                }
            }
        }
    }
}

/// A value per key that new values are reduced into.
pub struct ReducingState<K, V, N = ()> {
    value: ValueState<K, V, N>,
    reduce: Arc<dyn Fn(V, V) -> V + Send + Sync>,
}

impl<K, V, N> ReducingState<K, V, N> {
    /// Reduces `value` into namespace `ns`.
    pub fn add_in(&self, key: &K, ns: &N, value: V) -> Result<()> {
        let next = match self.value.get_in(key, ns)? {
            Some(acc) => (self.reduce)(acc, value),
            None => value,
        };
        self.value.put_in(key, ns, next)
    }
    /// The reduced value in namespace `ns`.
    pub fn get_in(&self, key: &K, ns: &N) -> Result<Option<V>> {
        self.value.get_in(key, ns)
    }
    /// Clears namespace `ns`.
    pub fn clear_in(&self, key: &K, ns: &N) -> Result<()> {
        self.value.clear_in(key, ns)
    }
}

impl<K, V> ReducingState<K, V, ()> {
    unscoped!(/// Reduces `value` in.
        fn add(&self, key: &K, value: V) -> Result<()> => add_in);
    unscoped!(/// The reduced value.
        fn get(&self, key: &K) -> Result<Option<V>> => get_in);
    unscoped!(/// Clears it.
        fn clear(&self, key: &K) -> Result<()> => clear_in);
}

/// An accumulator per key that values are aggregated into.
pub struct AggregatingState<K, In, F: AggregateFunction<In>, N = ()> {
    acc: ValueState<K, F::Acc, N>,
    function: F,
}

impl<K, In, F: AggregateFunction<In>, N> AggregatingState<K, In, F, N> {
    /// Adds `value` in namespace `ns`.
    pub fn add_in(&self, key: &K, ns: &N, value: In) -> Result<()> {
        self.acc.modify_in(key, ns, || self.function.create_accumulator(), |acc| self.function.add(value, acc))?;
        Ok(())
    }
    /// Retracts `value` in namespace `ns` ([`AggregateFunction::retract`]).
    pub fn retract_in(&self, key: &K, ns: &N, value: In) -> Result<()> {
        let mut acc = self.acc.get_in(key, ns)?.unwrap_or_else(|| self.function.create_accumulator());
        self.function.retract(value, &mut acc)?;
        self.acc.put_in(key, ns, acc)
    }
    /// The result in namespace `ns`.
    pub fn get_in(&self, key: &K, ns: &N) -> Result<Option<F::Out>> {
        Ok(self.acc.get_in(key, ns)?.map(|a| self.function.get_result(&a)))
    }
    /// Clears namespace `ns`.
    pub fn clear_in(&self, key: &K, ns: &N) -> Result<()> {
        self.acc.clear_in(key, ns)
    }
}

impl<K, In, F: AggregateFunction<In>> AggregatingState<K, In, F, ()> {
    /// Adds a value.
    pub fn add(&self, key: &K, value: In) -> Result<()> {
        self.add_in(key, &(), value)
    }
    /// Retracts a value.
    pub fn retract(&self, key: &K, value: In) -> Result<()> {
        self.retract_in(key, &(), value)
    }
    /// The current result.
    pub fn get(&self, key: &K) -> Result<Option<F::Out>> {
        self.get_in(key, &())
    }
    /// Clears it.
    pub fn clear(&self, key: &K) -> Result<()> {
        self.clear_in(key, &())
    }
}

/// A multiset of values per key (and namespace) in value order, for MIN and MAX over a changelog:
/// a retracted value leaves the set, and the new extreme is the first (last) entry of an ordered
/// map from each value's [`OrderedKey`] to the value and its count, as Flink's retractable MIN/MAX
/// keep it (reading neither the whole set nor every value).
pub struct MultisetState<K, V, N = ()> {
    map: MapState<K, OrderedKey, (V, u64), N>,
}

impl<K, V: ToOrdered, N> MultisetState<K, V, N> {
    /// Adds `value` in namespace `ns`.
    pub fn add_in(&self, key: &K, ns: &N, value: V) -> Result<()> {
        let k = OrderedKey::of(&value);
        let count = self.map.get_in(key, ns, &k)?.map_or(0, |(_, n)| n);
        self.map.put_in(key, ns, k, (value, count + 1))
    }
    /// Removes one occurrence of `value` in namespace `ns`; whether there was one.
    pub fn retract_in(&self, key: &K, ns: &N, value: &V) -> Result<bool> {
        let k = OrderedKey::of(value);
        match self.map.get_in(key, ns, &k)? {
            None => Ok(false),
            Some((_, 1)) => self.map.remove_in(key, ns, &k).map(|()| true),
            Some((v, n)) => self.map.put_in(key, ns, k, (v, n - 1)).map(|()| true),
        }
    }
    /// The smallest value in namespace `ns`.
    pub fn min_in(&self, key: &K, ns: &N) -> Result<Option<V>> {
        Ok(self.map.first_in(key, ns)?.map(|(_, (v, _))| v))
    }
    /// The greatest value in namespace `ns`.
    pub fn max_in(&self, key: &K, ns: &N) -> Result<Option<V>> {
        Ok(self.map.last_in(key, ns)?.map(|(_, (v, _))| v))
    }
    /// Clears namespace `ns`.
    pub fn clear_in(&self, key: &K, ns: &N) -> Result<()> {
        self.map.clear_in(key, ns)
    }
}

impl<K, V: ToOrdered> MultisetState<K, V, ()> {
    /// Adds a value.
    pub fn add(&self, key: &K, value: V) -> Result<()> {
        self.add_in(key, &(), value)
    }
    /// Removes one occurrence of `value`; whether there was one.
    pub fn retract(&self, key: &K, value: &V) -> Result<bool> {
        self.retract_in(key, &(), value)
    }
    /// The smallest value.
    pub fn min(&self, key: &K) -> Result<Option<V>> {
        self.min_in(key, &())
    }
    /// The greatest value.
    pub fn max(&self, key: &K) -> Result<Option<V>> {
        self.max_in(key, &())
    }
}

/// Which keyed state backend a job's operators use.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum StateBackendConfig {
    /// Objects on the heap (fastest; state must fit in memory).
    #[default]
    Heap,
    /// An embedded RocksDB per operator instance (state may exceed memory).
    RocksDb(rocksdb::RocksDbConfig),
}

/// The keyed state of one operator instance. Variants are the state backends.
pub enum KeyedStateBackend {
    /// Objects on the heap.
    Heap(heap::HeapKeyedStateBackend),
    /// An embedded RocksDB per instance.
    RocksDb(rocksdb::RocksDbKeyedStateBackend),
}

impl KeyedStateBackend {
    /// Declares a value state.
    pub fn value_state<K: Key, V: Data, N: Namespace>(
        &mut self,
        desc: &StateDescriptor,
    ) -> Result<ValueState<K, V, N>> {
        let inner = match self {
            KeyedStateBackend::Heap(h) => h.value(desc)?,
            KeyedStateBackend::RocksDb(r) => r.value(desc)?,
        };
        Ok(ValueState { inner })
    }

    /// Declares a list state.
    pub fn list_state<K: Key, V: Data, N: Namespace>(&mut self, desc: &StateDescriptor) -> Result<ListState<K, V, N>> {
        let inner = match self {
            KeyedStateBackend::Heap(h) => h.list(desc)?,
            KeyedStateBackend::RocksDb(r) => r.list(desc)?,
        };
        Ok(ListState { inner })
    }

    /// Declares a map state.
    pub fn map_state<K: Key, UK: Key, UV: Data, N: Namespace>(
        &mut self,
        desc: &StateDescriptor,
    ) -> Result<MapState<K, UK, UV, N>> {
        let inner = match self {
            KeyedStateBackend::Heap(h) => h.map(desc)?,
            KeyedStateBackend::RocksDb(r) => r.map(desc)?,
        };
        Ok(MapState { inner })
    }

    /// Declares a reducing state.
    pub fn reducing_state<K: Key, V: Data, N: Namespace>(
        &mut self,
        desc: &StateDescriptor,
        reduce: impl Fn(V, V) -> V + Send + Sync + 'static,
    ) -> Result<ReducingState<K, V, N>> {
        Ok(ReducingState { value: self.value_state(desc)?, reduce: Arc::new(reduce) })
    }

    /// Declares an aggregating state.
    pub fn aggregating_state<K: Key, In, F: AggregateFunction<In>, N: Namespace>(
        &mut self,
        desc: &StateDescriptor,
        function: F,
    ) -> Result<AggregatingState<K, In, F, N>> {
        Ok(AggregatingState { acc: self.value_state(desc)?, function })
    }

    /// Declares a multiset state (retractable MIN and MAX).
    pub fn multiset_state<K: Key, V: Data + ToOrdered, N: Namespace>(
        &mut self,
        desc: &StateDescriptor,
    ) -> Result<MultisetState<K, V, N>> {
        Ok(MultisetState { map: self.map_state(desc)? })
    }

    /// Declares the operator's timer service (stored with its state under `name`).
    pub fn timer_service<K: Key, N: Namespace>(&mut self, name: &str) -> Result<Timers<K, N>> {
        match self {
            KeyedStateBackend::Heap(h) => h.timers(name),
            KeyedStateBackend::RocksDb(r) => r.timers(name),
        }
    }

    /// Names of the declared states.
    pub fn state_names(&self) -> Vec<String> {
        match self {
            KeyedStateBackend::Heap(h) => h.state_names(),
            KeyedStateBackend::RocksDb(r) => r.state_names(),
        }
    }

    /// The snapshot of every declared state for checkpoint `checkpoint_id`: canonical, or (when
    /// `format` asks for it and the backend can) incremental database files plus the rest in
    /// canonical form.
    pub fn snapshot(
        &self,
        format: SnapshotFormat,
        checkpoint_id: u64,
    ) -> Result<(Vec<KeyedStateSnapshot>, Option<IncrementalSnapshot>)> {
        match self {
            KeyedStateBackend::Heap(h) => Ok((h.snapshot()?, None)),
            KeyedStateBackend::RocksDb(r) => r.snapshot(format, checkpoint_id),
        }
    }

    /// Restored states the operator has not declared (so far).
    pub fn unrestored(&self) -> Vec<String> {
        match self {
            KeyedStateBackend::Heap(h) => h.unrestored().map(str::to_string).collect(),
            KeyedStateBackend::RocksDb(r) => r.unrestored(),
        }
    }
}

pub(crate) fn duplicate_state(name: &str) -> Error {
    Error::InvalidJob(format!("state '{name}' is declared twice in the same operator; give each state a unique name"))
}
