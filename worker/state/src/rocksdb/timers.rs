//! Timers in RocksDB (the RocksDB backend's timer service, as Flink's default for that backend):
//! one row per timer in the timer service's column family, so millions of pending timers cost
//! disk, not memory.
//!
//! A row key is `[key group: u16][domain: u8][time: u64][len][key][len][namespace]` (big endian;
//! the time with its sign bit flipped so it sorts as a signed number) and the value is empty: a key
//! group's timers of one domain are one range in firing order, and registering a timer twice
//! writes the same row. Memory holds only the earliest time of each key group and domain, so
//! popping the next timer is one seek into the group that holds it; the seek after a pop starts at
//! the popped row, never rescanning the deleted rows before it.

use super::{Handle, Instance, push_len_prefixed, take_len_prefixed};
use crate::Namespace;
use crate::snapshot::KeyedEntry;
use crate::timers::TimerStore;
use ferroflink_core::codec::{decode, encode, encode_into};
use ferroflink_core::error::{Error, Result};
use ferroflink_core::keygroup::{KeyGroupRange, key_group_for_bytes};
use ferroflink_core::record::{Key, Timestamp};
use rocksdb::{ColumnFamily, Direction, IteratorMode, ReadOptions};
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::marker::PhantomData;

/// The first bytes of a row key: key group, domain and time.
const HEAD: usize = 11;

fn time_bytes(time: Timestamp) -> [u8; 8] {
    ((time as u64) ^ (1 << 63)).to_be_bytes()
}

/// `[key group][domain]`, the prefix of a key group's timers of one domain.
fn group_prefix(group: u16, domain: u8) -> [u8; 3] {
    let g = group.to_be_bytes();
    [g[0], g[1], domain]
}

/// A row key (see the module documentation).
pub(super) fn row_key(group: u16, domain: u8, time: Timestamp, key: &[u8], ns: &[u8]) -> Vec<u8> {
    let mut row = Vec::with_capacity(HEAD + key.len() + ns.len() + 4);
    row.extend_from_slice(&group_prefix(group, domain));
    row.extend_from_slice(&time_bytes(time));
    push_len_prefixed(&mut row, key);
    push_len_prefixed(&mut row, ns);
    row
}

/// The parts of a row key.
struct Row<'a> {
    group: u16,
    domain: u8,
    time: Timestamp,
    key: &'a [u8],
    ns: &'a [u8],
}

fn parse_row(row: &[u8]) -> Result<Row<'_>> {
    if row.len() < HEAD {
        return Err(Error::Codec("truncated timer row".into()));
    }
    let mut time = [0; 8];
    time.copy_from_slice(&row[3..HEAD]);
    let (key, rest) = take_len_prefixed(&row[HEAD..])?;
    let (ns, _) = take_len_prefixed(rest)?;
    Ok(Row {
        group: u16::from_be_bytes([row[0], row[1]]),
        domain: row[2],
        time: (u64::from_be_bytes(time) ^ (1 << 63)) as i64,
        key,
        ns,
    })
}

/// A timer row in the canonical form: value `(domain, time)`, as the heap's timer service has it.
pub(super) fn canonical_timer(row: &[u8]) -> Result<KeyedEntry> {
    let r = parse_row(row)?;
    Ok(KeyedEntry {
        key_group: r.group,
        key: r.key.to_vec(),
        namespace: r.ns.to_vec(),
        value: encode(&(r.domain, r.time))?,
    })
}

/// The row key of a canonical timer entry.
pub(super) fn timer_row(e: &KeyedEntry) -> Result<Vec<u8>> {
    let (domain, time): (u8, Timestamp) = decode(&e.value)?;
    Ok(row_key(e.key_group, domain, time, &e.key, &e.namespace))
}

/// The earliest time of each key group of one domain.
struct Heads {
    by_group: Vec<Option<Timestamp>>,
    order: BTreeSet<(Timestamp, u16)>,
}

impl Heads {
    fn set(&mut self, index: usize, group: u16, time: Option<Timestamp>) {
        let slot = &mut self.by_group[index];
        if let Some(old) = slot.take() {
            self.order.remove(&(old, group));
        }
        if let Some(t) = time {
            self.order.insert((t, group));
        }
        *slot = time;
    }
}

/// An operator's timers in RocksDB.
pub(super) struct RocksDbTimers<K, N> {
    handle: Handle,
    groups: KeyGroupRange,
    heads: RefCell<[Heads; 2]>,
    _t: PhantomData<fn() -> (K, N)>,
}

impl<K: Key, N: Namespace> RocksDbTimers<K, N> {
    /// The timers stored in `handle`'s column family for key groups `groups`.
    pub fn open(handle: Handle, groups: KeyGroupRange) -> Result<Self> {
        let empty = || Heads { by_group: vec![None; groups.end + 1 - groups.start], order: BTreeSet::new() };
        let timers = RocksDbTimers { handle, groups, heads: RefCell::new([empty(), empty()]), _t: PhantomData };
        timers.with(|inst, cf| {
            let mut heads = timers.heads.borrow_mut();
            for group in groups.start..=groups.end {
                for domain in [crate::timers::EVENT_TIME, crate::timers::PROCESSING_TIME] {
                    let first = timers.first(inst, cf, group as u16, domain, None)?;
                    heads[domain as usize].set(group - groups.start, group as u16, first.map(|(t, _)| t));
                }
            }
            Ok(())
        })?;
        Ok(timers)
    }

    fn with<R>(&self, f: impl FnOnce(&Instance, &ColumnFamily) -> Result<R>) -> Result<R> {
        let slot = self.handle.instance.borrow();
        let inst = slot.as_ref().ok_or_else(|| Error::Internal("timers used before open".into()))?;
        let cf = inst.db.cf_handle(&self.handle.cf).ok_or_else(|| Error::Internal("no timer column family".into()))?;
        f(inst, cf)
    }

    /// The first row of `group`'s timers of `domain` at or after `from` (default: the first).
    fn first(
        &self,
        inst: &Instance,
        cf: &ColumnFamily,
        group: u16,
        domain: u8,
        from: Option<&[u8]>,
    ) -> Result<Option<(Timestamp, Box<[u8]>)>> {
        let prefix = group_prefix(group, domain);
        let mut read = ReadOptions::default();
        read.set_iterate_upper_bound(group_prefix(group, domain + 1).to_vec());
        let start = from.unwrap_or(&prefix);
        let mut rows = inst.db.iterator_cf_opt(cf, read, IteratorMode::From(start, Direction::Forward));
        match rows.next() {
            None => Ok(None),
            Some(row) => {
                let (row, _) = row.map_err(|e| self.handle.failed("read a timer", e))?;
                let time = parse_row(&row).map_err(|e| self.handle.undecodable(e))?.time;
                Ok(Some((time, row)))
            }
        }
    }

    /// The key's group, its index among this instance's groups, and the encoded key and namespace.
    fn encoded(&self, key: &K, ns: &N) -> Result<(u16, usize, Vec<u8>, Vec<u8>)> {
        let (mut k, mut n) = (Vec::new(), Vec::new());
        encode_into(key, &mut k)?;
        encode_into(ns, &mut n)?;
        let group = key_group_for_bytes(&k, self.handle.max_parallelism);
        if !self.groups.contains(group) {
            return Err(Error::Internal(format!(
                "a timer of key {key:?} (key group {group}) in an instance owning key groups {:?}",
                self.groups
            )));
        }
        Ok((group as u16, group - self.groups.start, k, n))
    }
}

impl<K: Key, N: Namespace> TimerStore<K, N> for RocksDbTimers<K, N> {
    fn register(&self, domain: u8, key: &K, ns: &N, time: Timestamp) -> Result<()> {
        let (group, index, k, n) = self.encoded(key, ns)?;
        let row = row_key(group, domain, time, &k, &n);
        self.with(|inst, cf| {
            inst.db.put_cf_opt(cf, &row, [], &inst.write).map_err(|e| self.handle.failed("register a timer", e))
        })?;
        let mut heads = self.heads.borrow_mut();
        let heads = &mut heads[domain as usize];
        if heads.by_group[index].is_none_or(|h| time < h) {
            heads.set(index, group, Some(time));
        }
        Ok(())
    }

    fn delete(&self, domain: u8, key: &K, ns: &N, time: Timestamp) -> Result<()> {
        let (group, index, k, n) = self.encoded(key, ns)?;
        let row = row_key(group, domain, time, &k, &n);
        self.with(|inst, cf| {
            inst.db.delete_cf_opt(cf, &row, &inst.write).map_err(|e| self.handle.failed("delete a timer", e))?;
            if self.heads.borrow()[domain as usize].by_group[index] == Some(time) {
                let first = self.first(inst, cf, group, domain, Some(&row))?;
                self.heads.borrow_mut()[domain as usize].set(index, group, first.map(|(t, _)| t));
            }
            Ok(())
        })
    }

    fn pop(&self, domain: u8, up_to: Timestamp) -> Result<Option<(Timestamp, K, N)>> {
        let Some(&(time, group)) = self.heads.borrow()[domain as usize].order.first() else { return Ok(None) };
        if time > up_to {
            return Ok(None);
        }
        self.with(|inst, cf| {
            let mut from = group_prefix(group, domain).to_vec();
            from.extend_from_slice(&time_bytes(time));
            let Some((_, row)) = self.first(inst, cf, group, domain, Some(&from))? else {
                return Err(Error::Internal(format!("timer head of key group {group} at {time} has no row")));
            };
            inst.db.delete_cf_opt(cf, &row, &inst.write).map_err(|e| self.handle.failed("delete a timer", e))?;
            let next = self.first(inst, cf, group, domain, Some(&row))?;
            let index = group as usize - self.groups.start;
            self.heads.borrow_mut()[domain as usize].set(index, group, next.map(|(t, _)| t));
            let r = parse_row(&row).map_err(|e| self.handle.undecodable(e))?;
            let key = decode(r.key).map_err(|e| self.handle.undecodable(e))?;
            let ns = decode(r.ns).map_err(|e| self.handle.undecodable(e))?;
            Ok(Some((r.time, key, ns)))
        })
    }

    fn next(&self, domain: u8) -> Option<Timestamp> {
        self.heads.borrow()[domain as usize].order.first().map(|&(t, _)| t)
    }
}
