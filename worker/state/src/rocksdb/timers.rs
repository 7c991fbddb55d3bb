//! Timers in RocksDB (the RocksDB backend's timer service, as Flink's default for that backend):
//! one row per timer in the timer service's column family, so millions of pending timers cost
//! disk, not memory.
//!
//! A row key is `[key group: u16][domain: u8][time: u64][len][key][len][namespace]` (big endian;
//! the time with its sign bit flipped so it sorts as a signed number) and the value is empty: a key
//! group's timers of one domain are one range in firing order, and registering a timer twice
//! writes the same row. Memory holds only the earliest 128 rows of each key group and domain (as
//! Flink's RocksDB timers cache them), read in one scan when the cache runs empty, which starts at
//! the last popped row so it never rescans the deleted rows before it; popping a timer is a
//! delete.

use super::{Handle, Instance};
use crate::Namespace;
use crate::snapshot::KeyedEntry;
use crate::snapshot::{push_len_prefixed, take_len_prefixed};
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
    let (key, rest) = take_len_prefixed(&row[HEAD..])?;
    let (ns, _) = take_len_prefixed(rest)?;
    Ok(Row { group: u16::from_be_bytes([row[0], row[1]]), domain: row[2], time: row_time(row), key, ns })
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

/// Rows of one key group and domain a read fetches at a time (Flink caches 128 too).
const CACHED: usize = 128;

/// The earliest rows of one key group and domain, in firing order.
#[derive(Default)]
struct Group {
    rows: BTreeSet<Vec<u8>>,
    /// Whether `rows` are all the group's rows (else there are later ones in RocksDB).
    complete: bool,
    /// Where the next read starts: the last popped row (every row before it is deleted, so a read
    /// from there skips their tombstones).
    resume: Option<Vec<u8>>,
}

impl Group {
    fn head(&self) -> Option<Timestamp> {
        self.rows.first().map(|r| row_time(r))
    }
}

/// The groups of one domain, and which group holds the earliest timer.
struct Domain {
    groups: Vec<Group>,
    order: BTreeSet<(Timestamp, usize)>,
}

fn row_time(row: &[u8]) -> Timestamp {
    let mut time = [0; 8];
    time.copy_from_slice(&row[3..HEAD]);
    (u64::from_be_bytes(time) ^ (1 << 63)) as i64
}

/// An operator's timers in RocksDB.
pub(super) struct RocksDbTimers<K, N> {
    handle: Handle,
    groups: KeyGroupRange,
    domains: RefCell<[Domain; 2]>,
    _t: PhantomData<fn() -> (K, N)>,
}

impl<K: Key, N: Namespace> RocksDbTimers<K, N> {
    /// The timers stored in `handle`'s column family for key groups `groups`.
    pub fn open(handle: Handle, groups: KeyGroupRange) -> Result<Self> {
        let n = groups.end + 1 - groups.start;
        let domain = || Domain { groups: (0..n).map(|_| Group::default()).collect(), order: BTreeSet::new() };
        let timers = RocksDbTimers { handle, groups, domains: RefCell::new([domain(), domain()]), _t: PhantomData };
        timers.with(|inst, cf| {
            let mut domains = timers.domains.borrow_mut();
            for (d, domain) in domains.iter_mut().enumerate() {
                for index in 0..n {
                    timers.fill(inst, cf, d as u8, index, &mut domain.groups[index])?;
                    let head = domain.groups[index].head();
                    if let Some(t) = head {
                        domain.order.insert((t, index));
                    }
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

    /// Reads the next rows of a group whose cache ran empty.
    fn fill(&self, inst: &Instance, cf: &ColumnFamily, domain: u8, index: usize, g: &mut Group) -> Result<()> {
        let group = (self.groups.start + index) as u16;
        let prefix = group_prefix(group, domain);
        let mut read = ReadOptions::default();
        read.set_iterate_upper_bound(group_prefix(group, domain + 1).to_vec());
        let start = g.resume.as_deref().unwrap_or(&prefix);
        g.complete = true;
        for row in inst.db.iterator_cf_opt(cf, read, IteratorMode::From(start, Direction::Forward)) {
            let (row, _) = row.map_err(|e| self.handle.failed("read timers", e))?;
            parse_row(&row).map_err(|e| self.handle.undecodable(e))?;
            if g.rows.len() == CACHED {
                g.complete = false;
                break;
            }
            g.rows.insert(row.into_vec());
        }
        Ok(())
    }

    /// Runs `f` on the group of `index` in `domain`, then refills it if it ran empty and keeps the
    /// domain's order of group heads.
    fn update<R>(&self, domain: u8, index: usize, f: impl FnOnce(&mut Group) -> R) -> Result<R> {
        let mut domains = self.domains.borrow_mut();
        let d = &mut domains[domain as usize];
        let g = &mut d.groups[index];
        let before = g.head();
        let r = f(g);
        if g.rows.is_empty() && !g.complete {
            self.with(|inst, cf| self.fill(inst, cf, domain, index, g))?;
        }
        let after = g.head();
        if before != after {
            if let Some(t) = before {
                d.order.remove(&(t, index));
            }
            if let Some(t) = after {
                d.order.insert((t, index));
            }
        }
        Ok(r)
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
        self.update(domain, index, |g| {
            if g.resume.as_ref().is_some_and(|r| row < *r) {
                g.resume = Some(row.clone());
            }
            if g.complete || g.rows.last().is_some_and(|last| row < *last) {
                g.rows.insert(row);
                if g.rows.len() > CACHED {
                    g.rows.pop_last();
                    g.complete = false;
                }
            }
        })
    }

    fn delete(&self, domain: u8, key: &K, ns: &N, time: Timestamp) -> Result<()> {
        let (group, index, k, n) = self.encoded(key, ns)?;
        let row = row_key(group, domain, time, &k, &n);
        self.with(|inst, cf| {
            inst.db.delete_cf_opt(cf, &row, &inst.write).map_err(|e| self.handle.failed("delete a timer", e))
        })?;
        self.update(domain, index, |g| {
            g.rows.remove(&row);
        })
    }

    fn pop(&self, domain: u8, up_to: Timestamp) -> Result<Option<(Timestamp, K, N)>> {
        let Some(&(time, index)) = self.domains.borrow()[domain as usize].order.first() else { return Ok(None) };
        if time > up_to {
            return Ok(None);
        }
        let first = self.domains.borrow()[domain as usize].groups[index].rows.first().cloned();
        let row = first.ok_or_else(|| Error::Internal(format!("no timer row at the head time {time}")))?;
        // Deleted before the cache may refill from it.
        self.with(|inst, cf| {
            inst.db.delete_cf_opt(cf, &row, &inst.write).map_err(|e| self.handle.failed("delete a timer", e))
        })?;
        self.update(domain, index, |g| {
            g.rows.pop_first();
            g.resume = Some(row.clone());
        })?;
        let r = parse_row(&row).map_err(|e| self.handle.undecodable(e))?;
        let key = decode(r.key).map_err(|e| self.handle.undecodable(e))?;
        let ns = decode(r.ns).map_err(|e| self.handle.undecodable(e))?;
        Ok(Some((r.time, key, ns)))
    }

    fn next(&self, domain: u8) -> Option<Timestamp> {
        self.domains.borrow()[domain as usize].order.first().map(|&(t, _)| t)
    }
}
