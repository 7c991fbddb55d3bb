//! Keyed timers: event-time timers fire when the watermark passes them, processing-time timers
//! when the clock does. A timer is identified by (key, namespace, time); registering the same one
//! twice keeps one. Timers fire in time order, and timers of equal time in registration order.

use crate::snapshot::{EntryEncoder, KeyedStateSnapshot, SnapshotTable, decode_entry};
use ferroflink_core::error::Result;
use ferroflink_core::record::Timestamp;
use rustc_hash::FxHashSet;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::hash::Hash;
use std::rc::Rc;

/// One time domain's timers.
#[derive(Debug)]
struct TimerQueue<K, N> {
    by_time: BTreeMap<Timestamp, VecDeque<(K, N)>>,
    registered: FxHashSet<(K, N, Timestamp)>,
}

impl<K: Clone + Hash + Eq, N: Clone + Hash + Eq> TimerQueue<K, N> {
    fn new() -> Self {
        TimerQueue { by_time: BTreeMap::new(), registered: FxHashSet::default() }
    }

    fn register(&mut self, key: &K, ns: &N, time: Timestamp) {
        if self.registered.insert((key.clone(), ns.clone(), time)) {
            self.by_time.entry(time).or_default().push_back((key.clone(), ns.clone()));
        }
    }

    fn delete(&mut self, key: &K, ns: &N, time: Timestamp) {
        if self.registered.remove(&(key.clone(), ns.clone(), time))
            && let Some(v) = self.by_time.get_mut(&time)
        {
            v.retain(|(k, n)| !(k == key && n == ns));
            if v.is_empty() {
                self.by_time.remove(&time);
            }
        }
    }

    fn pop_due(&mut self, up_to: Timestamp) -> Option<(Timestamp, K, N)> {
        let mut entry = self.by_time.first_entry()?;
        let time = *entry.key();
        if time > up_to {
            return None;
        }
        let v = entry.get_mut();
        let (k, n) = v.pop_front().expect("queues in the map are never empty");
        if v.is_empty() {
            entry.remove();
        }
        self.registered.remove(&(k.clone(), n.clone(), time));
        Some((time, k, n))
    }

    fn next(&self) -> Option<Timestamp> {
        self.by_time.keys().next().copied()
    }

    fn len(&self) -> usize {
        self.registered.len()
    }
}

/// Event-time and processing-time timers of one keyed operator.
#[derive(Debug)]
pub struct TimerService<K, N = ()> {
    event: TimerQueue<K, N>,
    processing: TimerQueue<K, N>,
}

impl<K: Clone + Hash + Eq, N: Clone + Hash + Eq> Default for TimerService<K, N> {
    fn default() -> Self {
        TimerService { event: TimerQueue::new(), processing: TimerQueue::new() }
    }
}

impl<K: Clone + Hash + Eq, N: Clone + Hash + Eq> TimerService<K, N> {
    /// Registers an event-time timer.
    pub fn register_event_time_timer(&mut self, key: &K, ns: &N, time: Timestamp) {
        self.event.register(key, ns, time);
    }

    /// Deletes an event-time timer if it exists.
    pub fn delete_event_time_timer(&mut self, key: &K, ns: &N, time: Timestamp) {
        self.event.delete(key, ns, time);
    }

    /// Registers a processing-time timer.
    pub fn register_processing_time_timer(&mut self, key: &K, ns: &N, time: Timestamp) {
        self.processing.register(key, ns, time);
    }

    /// Deletes a processing-time timer if it exists.
    pub fn delete_processing_time_timer(&mut self, key: &K, ns: &N, time: Timestamp) {
        self.processing.delete(key, ns, time);
    }

    /// The next event-time timer at or before `watermark`, removed.
    pub fn pop_event_timer(&mut self, watermark: Timestamp) -> Option<(Timestamp, K, N)> {
        self.event.pop_due(watermark)
    }

    /// The next processing-time timer at or before `now`, removed.
    pub fn pop_processing_timer(&mut self, now: Timestamp) -> Option<(Timestamp, K, N)> {
        self.processing.pop_due(now)
    }

    /// When the earliest processing-time timer is due.
    pub fn next_processing_time(&self) -> Option<Timestamp> {
        self.processing.next()
    }

    /// Number of registered timers (both domains).
    pub fn len(&self) -> usize {
        self.event.len() + self.processing.len()
    }

    /// Whether no timer is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Which clock a timer waits for, as stored: event time.
pub(crate) const EVENT_TIME: u8 = 0;
/// Processing time.
pub(crate) const PROCESSING_TIME: u8 = 1;

/// Where a backend keeps an operator's timers: the heap's [`TimerService`], or RocksDB's timer
/// column family with the RocksDB backend. `domain` is [`EVENT_TIME`] or [`PROCESSING_TIME`].
pub(crate) trait TimerStore<K, N> {
    /// Registers a timer (once: registering it again does nothing).
    fn register(&self, domain: u8, key: &K, ns: &N, time: Timestamp) -> Result<()>;
    /// Deletes a timer if it exists.
    fn delete(&self, domain: u8, key: &K, ns: &N, time: Timestamp) -> Result<()>;
    /// The next timer at or before `up_to`, removed.
    fn pop(&self, domain: u8, up_to: Timestamp) -> Result<Option<(Timestamp, K, N)>>;
    /// When the earliest timer is due.
    fn next(&self, domain: u8) -> Option<Timestamp>;
}

impl<K: Clone + Hash + Eq, N: Clone + Hash + Eq> TimerStore<K, N> for RefCell<TimerService<K, N>> {
    #[inline]
    fn register(&self, domain: u8, key: &K, ns: &N, time: Timestamp) -> Result<()> {
        let mut t = self.borrow_mut();
        if domain == EVENT_TIME { &mut t.event } else { &mut t.processing }.register(key, ns, time);
        Ok(())
    }
    fn delete(&self, domain: u8, key: &K, ns: &N, time: Timestamp) -> Result<()> {
        let mut t = self.borrow_mut();
        if domain == EVENT_TIME { &mut t.event } else { &mut t.processing }.delete(key, ns, time);
        Ok(())
    }
    fn pop(&self, domain: u8, up_to: Timestamp) -> Result<Option<(Timestamp, K, N)>> {
        let mut t = self.borrow_mut();
        Ok(if domain == EVENT_TIME { &mut t.event } else { &mut t.processing }.pop_due(up_to))
    }
    fn next(&self, domain: u8) -> Option<Timestamp> {
        let t = self.borrow();
        if domain == EVENT_TIME { &t.event } else { &t.processing }.next()
    }
}

/// The timer service of an operator as registered with its state backend (so its timers are
/// checkpointed with the state): a shared handle whose methods never hold a borrow across calls,
/// so a timer callback may register timers. Timers fire in time order; timers of equal time fire
/// in registration order on the heap and in key order with RocksDB (as in Flink).
pub struct Timers<K, N = ()>(Store<K, N>);

/// The heap's timer service is called directly (it is on every window's path); others through
/// the trait.
enum Store<K, N> {
    Heap(Rc<RefCell<TimerService<K, N>>>),
    Other(Rc<dyn TimerStore<K, N>>),
}

impl<K: Clone + Hash + Eq, N: Clone + Hash + Eq> Default for Timers<K, N> {
    fn default() -> Self {
        Timers(Store::Heap(Rc::new(RefCell::new(TimerService::default()))))
    }
}

/// Calls `$method` on whichever store the handle has.
macro_rules! on_store {
    ($self:ident.$method:ident($($arg:expr),*)) => {
        match &$self.0 {
            Store::Heap(s) => s.$method($($arg),*),
            Store::Other(s) => s.$method($($arg),*),
        }
    };
}

impl<K: Clone + Hash + Eq, N: Clone + Hash + Eq> Timers<K, N> {
    pub(crate) fn heap(service: Rc<RefCell<TimerService<K, N>>>) -> Self {
        Timers(Store::Heap(service))
    }
    pub(crate) fn new(store: Rc<dyn TimerStore<K, N>>) -> Self {
        Timers(Store::Other(store))
    }
    /// Registers an event-time timer: it fires when the watermark reaches `time`.
    pub fn register_event_time_timer(&self, key: &K, ns: &N, time: Timestamp) -> Result<()> {
        on_store!(self.register(EVENT_TIME, key, ns, time))
    }
    /// Deletes an event-time timer if it exists.
    pub fn delete_event_time_timer(&self, key: &K, ns: &N, time: Timestamp) -> Result<()> {
        on_store!(self.delete(EVENT_TIME, key, ns, time))
    }
    /// Registers a processing-time timer: it fires when the clock reaches `time`.
    pub fn register_processing_time_timer(&self, key: &K, ns: &N, time: Timestamp) -> Result<()> {
        on_store!(self.register(PROCESSING_TIME, key, ns, time))
    }
    /// Deletes a processing-time timer if it exists.
    pub fn delete_processing_time_timer(&self, key: &K, ns: &N, time: Timestamp) -> Result<()> {
        on_store!(self.delete(PROCESSING_TIME, key, ns, time))
    }
    /// The next event-time timer at or before `watermark`, removed.
    pub fn pop_event_timer(&self, watermark: Timestamp) -> Result<Option<(Timestamp, K, N)>> {
        on_store!(self.pop(EVENT_TIME, watermark))
    }
    /// The next processing-time timer at or before `now`, removed.
    pub fn pop_processing_timer(&self, now: Timestamp) -> Result<Option<(Timestamp, K, N)>> {
        on_store!(self.pop(PROCESSING_TIME, now))
    }
    /// When the earliest processing-time timer is due.
    pub fn next_processing_time(&self) -> Option<Timestamp> {
        on_store!(self.next(PROCESSING_TIME))
    }
}

/// A snapshot holds one entry per timer, value `(domain, time)`, in firing order within a key group.
impl<K, N> SnapshotTable for RefCell<TimerService<K, N>>
where
    K: Clone + Hash + Eq + Serialize + DeserializeOwned,
    N: Clone + Hash + Eq + Serialize + DeserializeOwned,
{
    fn snapshot(&self, enc: &mut EntryEncoder) -> Result<()> {
        let timers = self.borrow();
        for (domain, queue) in [(EVENT_TIME, &timers.event), (PROCESSING_TIME, &timers.processing)] {
            for (time, due) in &queue.by_time {
                for (key, ns) in due {
                    let group = enc.key(key)?;
                    enc.push(group, ns, &(domain, *time))?;
                }
            }
        }
        Ok(())
    }

    fn restore(&self, snapshot: &KeyedStateSnapshot) -> Result<()> {
        let mut timers = self.borrow_mut();
        for e in &snapshot.entries {
            let (key, ns, (domain, time)): (K, N, (u8, Timestamp)) = decode_entry(&snapshot.name, e)?;
            if domain == EVENT_TIME {
                timers.register_event_time_timer(&key, &ns, time);
            } else {
                timers.register_processing_time_timer(&key, &ns, time);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fire_in_order_once_and_deleted_never() {
        let mut t = TimerService::<&str, ()>::default();
        t.register_event_time_timer(&"a", &(), 30);
        t.register_event_time_timer(&"b", &(), 10);
        t.register_event_time_timer(&"b", &(), 10);
        t.register_event_time_timer(&"c", &(), 20);
        t.delete_event_time_timer(&"c", &(), 20);
        assert_eq!(t.len(), 2);
        assert_eq!(t.pop_event_timer(25), Some((10, "b", ())));
        assert_eq!(t.pop_event_timer(25), None);
        assert_eq!(t.pop_event_timer(30), Some((30, "a", ())));
        assert!(t.is_empty());
        t.register_processing_time_timer(&"p", &(), 7);
        assert_eq!(t.next_processing_time(), Some(7));
        assert_eq!(t.pop_processing_timer(6), None);
        assert_eq!(t.pop_processing_timer(7), Some((7, "p", ())));
    }
}
