//! Behaviour every keyed state backend must have, run by each backend's tests. A backend is given
//! as a function of the clock its TTL reads and the snapshots it restores.

use crate::snapshot::{KeyedEntry, KeyedStateSnapshot, StateKind};
use crate::ttl::{StateTtlConfig, StateVisibility, TtlUpdate};
use crate::{KeyedStateBackend, StateDescriptor};
use ferroflink_core::clock::ManualClock;
use ferroflink_core::codec::encode;
use ferroflink_core::element::SnapshotFormat;
use ferroflink_core::functions::Count;
use ferroflink_core::keygroup::key_group_for_bytes;
use std::collections::BTreeMap;
use std::time::Duration;

/// Makes a backend reading `clock` that restores `snapshots`.
pub(crate) type Make<'a> = &'a dyn Fn(&ManualClock, Vec<KeyedStateSnapshot>) -> KeyedStateBackend;

/// Runs every check on a backend.
pub(crate) fn all(backend: Make) {
    states(backend);
    ttl_update_and_visibility(backend);
    ttl_cleanup_and_snapshots(backend);
    ordered_maps(backend);
    long_lists(backend);
    undecodable_values_are_errors(backend);
    format_1_snapshots_convert(backend);
    timers(backend);
    retraction(backend);
}

/// Value, list, map, reducing and aggregating state; a name declared twice is refused.
fn states(backend: Make) {
    let clock = ManualClock::new(0);
    let mut b = backend(&clock, Vec::new());
    let v = b.value_state::<String, u64, ()>(&StateDescriptor::new("v")).unwrap();
    assert_eq!(v.get(&"k".into()).unwrap(), None);
    v.put(&"k".into(), 3).unwrap();
    assert_eq!(v.get(&"k".into()).unwrap(), Some(3));
    assert_eq!(v.get(&"other".into()).unwrap(), None);
    v.clear(&"k".into()).unwrap();
    assert_eq!(v.get(&"k".into()).unwrap(), None);
    assert!(v.modify_in(&"k".into(), &(), || 10, |x| *x += 1).unwrap(), "unset: starts from init");
    assert!(!v.modify_in(&"k".into(), &(), || unreachable!("set"), |x| *x *= 2).unwrap());
    assert_eq!(v.get(&"k".into()).unwrap(), Some(22));
    let w = b.value_state::<u64, u64, i64>(&StateDescriptor::new("w")).unwrap();
    for (k, ns, x) in [(1, -5, 1), (1, 300, 2), (1, 7, 3), (2, 7, 4), (10, 0, 5)] {
        w.put_in(&k, &ns, x).unwrap();
    }
    let mut seen = Vec::new();
    w.for_each_namespace(&1, |ns, x| seen.push((*ns, *x))).unwrap();
    seen.sort();
    assert_eq!(seen, vec![(-5, 1), (7, 3), (300, 2)], "every namespace of key 1, nothing of keys 2 and 10");

    let l = b.list_state::<u64, String, i64>(&StateDescriptor::new("l")).unwrap();
    l.add_in(&1, &10, "a".into()).unwrap();
    l.add_in(&1, &10, "b".into()).unwrap();
    l.add_in(&1, &20, "c".into()).unwrap();
    assert_eq!(l.get_in(&1, &10).unwrap(), vec!["a".to_string(), "b".into()]);
    assert_eq!(l.get_in(&1, &20).unwrap(), vec!["c".to_string()]);
    l.update_in(&1, &20, vec!["d".into(), "e".into()]).unwrap();
    l.add_in(&1, &20, "f".into()).unwrap();
    assert_eq!(l.get_in(&1, &20).unwrap(), vec!["d".to_string(), "e".into(), "f".into()]);
    l.clear_in(&1, &10).unwrap();
    assert!(l.get_in(&1, &10).unwrap().is_empty());

    let m = b.map_state::<u64, String, u64, ()>(&StateDescriptor::new("m")).unwrap();
    m.put(&1, "x".into(), 1).unwrap();
    m.put(&1, "y".into(), 2).unwrap();
    m.put(&2, "x".into(), 9).unwrap();
    m.remove(&1, &"x".into()).unwrap();
    assert_eq!(m.entries(&1).unwrap(), vec![("y".to_string(), 2)]);
    assert_eq!(m.get(&2, &"x".into()).unwrap(), Some(9));
    m.clear(&1).unwrap();
    assert!(m.entries(&1).unwrap().is_empty());
    assert_eq!(m.entries(&2).unwrap(), vec![("x".to_string(), 9)]);

    let r = b.reducing_state::<u64, u64, ()>(&StateDescriptor::new("r"), |a, b| a.max(b)).unwrap();
    for x in [3, 9, 4] {
        r.add(&7, x).unwrap();
    }
    assert_eq!(r.get(&7).unwrap(), Some(9));

    let a = b.aggregating_state::<u64, &str, Count, ()>(&StateDescriptor::new("a"), Count).unwrap();
    a.add(&1, "x").unwrap();
    a.add(&1, "y").unwrap();
    assert_eq!(a.get(&1).unwrap(), Some(2));

    assert!(b.value_state::<u64, u64, ()>(&StateDescriptor::new("v")).is_err());
}

/// TTL of values, list elements and map entries under each update type and visibility.
fn ttl_update_and_visibility(backend: Make) {
    let clock = ManualClock::new(1_000);
    let mut b = backend(&clock, Vec::new());
    let ttl = StateTtlConfig::new(Duration::from_millis(100));
    let on_read = ttl.with_update(TtlUpdate::OnReadAndWrite);
    let visible = ttl.with_visibility(StateVisibility::ReturnExpiredIfNotCleanedUp);
    let v = b.value_state::<u64, u64, ()>(&StateDescriptor::new("v").with_ttl(ttl)).unwrap();
    let r = b.value_state::<u64, u64, ()>(&StateDescriptor::new("r").with_ttl(on_read)).unwrap();
    let e = b.value_state::<u64, u64, ()>(&StateDescriptor::new("e").with_ttl(visible)).unwrap();
    let l = b.list_state::<u64, u64, ()>(&StateDescriptor::new("l").with_ttl(ttl)).unwrap();
    let lr = b.list_state::<u64, u64, ()>(&StateDescriptor::new("lr").with_ttl(on_read)).unwrap();
    let m = b.map_state::<u64, u64, u64, ()>(&StateDescriptor::new("m").with_ttl(ttl)).unwrap();
    let mr = b.map_state::<u64, u64, u64, ()>(&StateDescriptor::new("mr").with_ttl(on_read)).unwrap();
    let me = b.map_state::<u64, u64, u64, ()>(&StateDescriptor::new("me").with_ttl(visible)).unwrap();
    v.put(&1, 1).unwrap();
    r.put(&1, 1).unwrap();
    e.put(&1, 1).unwrap();
    l.add(&1, 1).unwrap();
    lr.add(&1, 1).unwrap();
    m.put(&1, 1, 1).unwrap();
    mr.put(&1, 1, 1).unwrap();
    me.put(&1, 1, 1).unwrap();
    clock.advance(60); // 1060
    l.add(&1, 2).unwrap();
    m.put(&1, 2, 2).unwrap();
    assert_eq!(v.get(&1).unwrap(), Some(1));
    assert_eq!(r.get(&1).unwrap(), Some(1), "refreshed to expire at 1160");
    assert_eq!(lr.get(&1).unwrap(), vec![1], "refreshed to expire at 1160");
    assert_eq!(mr.get(&1, &1).unwrap(), Some(1), "refreshed to expire at 1160");
    clock.advance(50); // 1110
    assert_eq!(v.get(&1).unwrap(), None, "written at 1000, expired at 1100");
    assert_eq!(r.get(&1).unwrap(), Some(1));
    assert_eq!(lr.get(&1).unwrap(), vec![1]);
    assert_eq!(mr.entries(&1).unwrap(), vec![(1, 1)]);
    assert_eq!(l.get(&1).unwrap(), vec![2], "the older element expired, the newer lives");
    assert_eq!(m.entries(&1).unwrap(), vec![(2, 2)], "the older entry expired, the newer lives");
    assert_eq!(m.get(&1, &1).unwrap(), None);
    assert_eq!(e.get(&1).unwrap(), Some(1), "expired, not cleaned up yet: returned once");
    assert_eq!(e.get(&1).unwrap(), None, "the read cleaned it up");
    assert_eq!(me.get(&1, &1).unwrap(), Some(1));
    assert_eq!(me.get(&1, &1).unwrap(), None);
    clock.advance(200); // 1310
    assert_eq!(r.get(&1).unwrap(), None);
    assert!(l.get(&1).unwrap().is_empty());
    assert!(lr.get(&1).unwrap().is_empty());
    assert!(mr.entries(&1).unwrap().is_empty());
    v.put(&1, 5).unwrap();
    assert_eq!(v.get(&1).unwrap(), Some(5), "a write after expiry starts afresh");
    clock.advance(90); // 1400: v written at 1310
    assert!(!v.modify_in(&1, &(), || unreachable!("live"), |x| *x += 1).unwrap(), "a change is a write");
    clock.advance(90); // 1490: expires at 1500 now, not 1410
    assert_eq!(v.get(&1).unwrap(), Some(6));
    clock.advance(20); // 1510
    assert!(v.modify_in(&1, &(), || 100, |x| *x += 1).unwrap(), "expired: starts from init");
    assert_eq!(v.get(&1).unwrap(), Some(101));
    let visits = |v: &crate::ValueState<u64, u64>| {
        let mut n = 0;
        v.for_each_namespace(&1, |_, _| n += 1).unwrap();
        n
    };
    assert_eq!(visits(&v), 1);
    clock.advance(100); // 1610: expired at 1610
    assert_eq!(visits(&v), 0, "an expired value is not visited");
}

/// Expired values are cleaned up without being read and never reach a snapshot.
fn ttl_cleanup_and_snapshots(backend: Make) {
    let clock = ManualClock::new(0);
    let mut b = backend(&clock, Vec::new());
    let ttl = StateTtlConfig::new(Duration::from_millis(100));
    let v = b.value_state::<u64, u64, ()>(&StateDescriptor::new("v").with_ttl(ttl)).unwrap();
    let l = b.list_state::<u64, u64, ()>(&StateDescriptor::new("l").with_ttl(ttl)).unwrap();
    let m = b.map_state::<u64, u64, u64, ()>(&StateDescriptor::new("m").with_ttl(ttl)).unwrap();
    let keep = b.value_state::<u64, u64, ()>(&StateDescriptor::new("keep")).unwrap();
    for k in 0..1_000 {
        v.put(&k, k).unwrap();
        l.add(&k, k).unwrap();
        m.put(&k, k, k).unwrap();
        keep.put(&k, k).unwrap();
    }
    clock.advance(50);
    for k in 0..10 {
        l.add(&k, k + 1).unwrap();
        m.put(&k, k + 1, k).unwrap();
    }
    clock.advance(60); // 110: the first writes expired, those at 50 live
    for k in 1_000..1_300 {
        v.put(&k, k).unwrap(); // an access cleans a few expired entries up (heap)
    }
    let (snapshot, _) = b.snapshot(SnapshotFormat::Canonical, 1).unwrap();
    let entries = |name: &str| snapshot.iter().find(|s| s.name == name).unwrap().entries.len();
    assert_eq!(entries("v"), 300, "only the values written at 110 are live");
    assert_eq!(entries("l"), 10, "lists with a live element");
    assert_eq!(entries("m"), 10, "map entries written at 50");
    assert_eq!(entries("keep"), 1_000, "state without TTL stays");
    // A restore of that snapshot holds exactly what was live.
    let mut r = backend(&clock, snapshot);
    let l = r.list_state::<u64, u64, ()>(&StateDescriptor::new("l").with_ttl(ttl)).unwrap();
    let m = r.map_state::<u64, u64, u64, ()>(&StateDescriptor::new("m").with_ttl(ttl)).unwrap();
    assert_eq!(l.get(&3).unwrap(), vec![4]);
    assert_eq!(m.entries(&3).unwrap(), vec![(4, 3)]);
    assert!(l.get(&500).unwrap().is_empty());
}

/// A deterministic pseudo-random sequence.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Maps iterate in the byte order of their serialized user keys, forwards, backwards and from a
/// key, in batches, equal to a reference ordered map; keys and namespaces do not mix.
fn ordered_maps(backend: Make) {
    let clock = ManualClock::new(0);
    let mut b = backend(&clock, Vec::new());
    let m = b.map_state::<u64, String, u64, i64>(&StateDescriptor::new("m")).unwrap();
    let n = b.map_state::<u64, [u8; 8], u64, ()>(&StateDescriptor::new("n")).unwrap();
    let mut random = Random(0x9e37_79b9_7f4a_7c15);
    let mut want: BTreeMap<Vec<u8>, (String, u64)> = BTreeMap::new();
    for i in 0..1_000 {
        let user_key = format!("{:x}", random.next() % 100_000);
        if i % 7 == 0 {
            m.remove_in(&1, &0, &user_key).unwrap();
            want.remove(&encode(&user_key).unwrap());
        } else {
            m.put_in(&1, &0, user_key.clone(), i).unwrap();
            want.insert(encode(&user_key).unwrap(), (user_key, i));
        }
        m.put_in(&2, &0, format!("{i}"), i).unwrap();
        m.put_in(&1, &1, format!("{i}"), i).unwrap();
    }
    let expected: Vec<(String, u64)> = want.values().cloned().collect();
    assert_eq!(m.entries_in(&1, &0).unwrap(), expected, "key order, across several batches");
    let backwards: Vec<(String, u64)> = m.iter_rev_in(&1, &0).collect::<Result<_, _>>().unwrap();
    assert_eq!(backwards, expected.iter().rev().cloned().collect::<Vec<_>>());
    for _ in 0..20 {
        let from = format!("{:x}", random.next() % 100_000);
        let encoded = encode(&from).unwrap();
        let got: Vec<(String, u64)> = m.iter_from_in(&1, &0, &from).unwrap().take(10).map(Result::unwrap).collect();
        let want: Vec<(String, u64)> = want.range(encoded..).take(10).map(|(_, v)| v.clone()).collect();
        assert_eq!(got, want, "range scan from {from}");
    }
    assert_eq!(m.entries_in(&2, &0).unwrap().len(), 1_000);
    assert_eq!(m.entries_in(&1, &1).unwrap().len(), 1_000);
    assert!(m.entries_in(&3, &0).unwrap().is_empty());
    // Big-endian arrays sort as numbers.
    for k in [300u64, 2, 70_000, 1] {
        n.put(&9, k.to_be_bytes(), k).unwrap();
    }
    let values: Vec<u64> = n.iter(&9).map(|e| e.unwrap().1).collect();
    assert_eq!(values, vec![1, 2, 300, 70_000]);
    assert_eq!(n.iter_rev(&9).next().unwrap().unwrap().1, 70_000, "the greatest key first");
}

/// Appends to one list: every element, in order.
fn long_lists(backend: Make) {
    let clock = ManualClock::new(0);
    let mut b = backend(&clock, Vec::new());
    let l = b.list_state::<u64, String, ()>(&StateDescriptor::new("l")).unwrap();
    for i in 0..5_000 {
        l.add(&1, format!("e{i}")).unwrap();
    }
    let got = l.get(&1).unwrap();
    assert_eq!(got.len(), 5_000);
    assert!(got.iter().enumerate().all(|(i, e)| *e == format!("e{i}")));
}

/// Bytes that do not decode as the declared type are an error naming the state, not a panic.
fn undecodable_values_are_errors(backend: Make) {
    let clock = ManualClock::new(0);
    let mut b = backend(&clock, Vec::new());
    let v = b.value_state::<u64, String, ()>(&StateDescriptor::new("v")).unwrap();
    v.put(&1, "not a number pair".into()).unwrap();
    let (snapshot, _) = b.snapshot(SnapshotFormat::Canonical, 1).unwrap();
    let mut r = backend(&clock, snapshot);
    let error = match r.value_state::<u64, (u64, u64, u64, u64, u64), ()>(&StateDescriptor::new("v")) {
        Err(e) => e,
        Ok(v) => v.get(&1).expect_err("undecodable bytes"),
    };
    assert!(error.to_string().contains("'v'"), "{error}");
}

/// A savepoint of format 1 (expiry after the value) restores through the declared types.
fn format_1_snapshots_convert(backend: Make) {
    let clock = ManualClock::new(0);
    let key = encode(&7u64).unwrap();
    let entry = |value: Vec<u8>| KeyedEntry {
        key_group: key_group_for_bytes(&key, 128) as u16,
        key: key.clone(),
        namespace: encode(&()).unwrap(),
        value,
    };
    let legacy = |name: &str, kind, entries| KeyedStateSnapshot { name: name.into(), kind, entries, legacy: true };
    let never = i64::MAX;
    let snapshots = vec![
        legacy("v", StateKind::Value, vec![entry(encode(&("seven".to_string(), never)).unwrap())]),
        legacy("l", StateKind::List, vec![entry(encode(&vec![(1u64, never), (2, never)]).unwrap())]),
        legacy(
            "m",
            StateKind::Map,
            vec![entry(encode(&(3u32, 30u64, never)).unwrap()), entry(encode(&(4u32, 40u64, never)).unwrap())],
        ),
    ];
    let mut b = backend(&clock, snapshots);
    let v = b.value_state::<u64, String, ()>(&StateDescriptor::new("v")).unwrap();
    let l = b.list_state::<u64, u64, ()>(&StateDescriptor::new("l")).unwrap();
    let m = b.map_state::<u64, u32, u64, ()>(&StateDescriptor::new("m")).unwrap();
    assert_eq!(v.get(&7).unwrap(), Some("seven".to_string()));
    assert_eq!(l.get(&7).unwrap(), vec![1, 2]);
    assert_eq!(m.entries(&7).unwrap(), vec![(3, 30), (4, 40)]);
}

/// Timers fire in time order, once, not after deletion, also those registered while firing, and
/// survive a snapshot. Few keys with many namespaces put hundreds of timers in one key group.
fn timers(backend: Make) {
    let clock = ManualClock::new(0);
    let mut b = backend(&clock, Vec::new());
    let t = b.timer_service::<u64, u32>("t").unwrap();
    let mut random = Random(0x2545_f491_4f6c_dd1d);
    let mut want = std::collections::BTreeSet::new();
    for i in 0..2_000u32 {
        let (key, time) = (u64::from(i % 4), (random.next() % 1_000) as i64);
        t.register_event_time_timer(&key, &i, time).unwrap();
        t.register_event_time_timer(&key, &i, time).unwrap();
        want.insert((time, i));
        if i % 5 == 0 {
            t.delete_event_time_timer(&key, &i, time).unwrap();
            want.remove(&(time, i));
        }
    }
    t.register_processing_time_timer(&1, &0, 50).unwrap();
    t.register_processing_time_timer(&2, &0, 40).unwrap();
    assert_eq!(t.next_processing_time(), Some(40));
    let (snapshot, _) = b.snapshot(SnapshotFormat::Canonical, 1).unwrap();
    let registered = want.len();
    let mut fired = Vec::new();
    while let Some((time, key, i)) = t.pop_event_timer(499).unwrap() {
        assert_eq!(key, u64::from(i % 4));
        if fired.len() == 10 {
            // Registered while firing and due already: fires in the same advance.
            t.register_event_time_timer(&0, &1_000_000, time).unwrap();
            want.insert((time, 1_000_000));
        }
        if fired.len() == 20 {
            // Deleted while firing: never fires.
            let &(at, i) = want.iter().rev().find(|&&(at, i)| at <= 499 && i % 4 == 3).unwrap();
            t.delete_event_time_timer(&3, &i, at).unwrap();
            want.remove(&(at, i));
        }
        fired.push((time, i));
    }
    assert!(fired.windows(2).all(|w| w[0].0 <= w[1].0), "time order");
    let due: Vec<(i64, u32)> = want.iter().copied().filter(|&(time, _)| time <= 499).collect();
    let mut sorted = fired.clone();
    sorted.sort();
    assert_eq!(sorted, due, "every due timer once, none deleted");
    assert_eq!(t.pop_processing_timer(39).unwrap(), None);
    assert_eq!(t.pop_processing_timer(100).unwrap(), Some((40, 2, 0)));
    assert_eq!(t.next_processing_time(), Some(50));
    let mut rest = 0;
    while t.pop_event_timer(i64::MAX).unwrap().is_some() {
        rest += 1;
    }
    assert_eq!(fired.len() + rest, want.len());
    // The snapshot, taken before firing, restores every timer.
    let mut r = backend(&clock, snapshot);
    let t = r.timer_service::<u64, u32>("t").unwrap();
    let mut all = 0;
    while t.pop_event_timer(i64::MAX).unwrap().is_some() {
        all += 1;
    }
    assert_eq!(all, registered);
}

/// Aggregates retract; a multiset's MIN and MAX follow additions and retractions.
fn retraction(backend: Make) {
    let clock = ManualClock::new(0);
    let mut b = backend(&clock, Vec::new());
    let a = b.aggregating_state::<u64, u8, Count, ()>(&StateDescriptor::new("a"), Count).unwrap();
    for _ in 0..3 {
        a.add(&1, 0).unwrap();
    }
    a.retract(&1, 0).unwrap();
    assert_eq!(a.get(&1).unwrap(), Some(2));
    let m = b.multiset_state::<u64, i64, ()>(&StateDescriptor::new("m")).unwrap();
    let mut random = Random(0x0123_4567_89ab_cdef);
    let mut want: BTreeMap<i64, u64> = BTreeMap::new();
    for _ in 0..3_000 {
        let v = (random.next() % 200) as i64 - 100;
        if random.next().is_multiple_of(3) {
            let present = want.get(&v).is_some_and(|&n| n > 0);
            assert_eq!(m.retract(&1, &v).unwrap(), present);
            if present {
                *want.get_mut(&v).unwrap() -= 1;
                want.retain(|_, n| *n > 0);
            }
        } else {
            m.add(&1, v).unwrap();
            *want.entry(v).or_default() += 1;
        }
        assert_eq!(m.min(&1).unwrap(), want.keys().next().copied());
        assert_eq!(m.max(&1).unwrap(), want.keys().next_back().copied());
    }
    assert_eq!(m.min(&2).unwrap(), None);
}
