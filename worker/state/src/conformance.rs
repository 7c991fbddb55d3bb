//! Behaviour every keyed state backend must have, run by each backend's tests.

use crate::ttl::StateTtlConfig;
use crate::{KeyedStateBackend, StateDescriptor};
use ferroflink_core::clock::ManualClock;
use ferroflink_core::functions::Count;
use std::time::Duration;

/// Value, list, map, reducing and aggregating state; a name declared twice is refused.
pub(crate) fn states(backend: &dyn Fn(&ManualClock) -> KeyedStateBackend) {
    let clock = ManualClock::new(0);
    let mut b = backend(&clock);
    let v = b.value_state::<String, u64, ()>(&StateDescriptor::new("v")).unwrap();
    assert_eq!(v.get(&"k".into()).unwrap(), None);
    v.put(&"k".into(), 3).unwrap();
    assert_eq!(v.get(&"k".into()).unwrap(), Some(3));
    assert_eq!(v.get(&"other".into()).unwrap(), None);
    v.clear(&"k".into()).unwrap();
    assert_eq!(v.get(&"k".into()).unwrap(), None);

    let l = b.list_state::<u64, String, i64>(&StateDescriptor::new("l")).unwrap();
    l.add_in(&1, &10, "a".into()).unwrap();
    l.add_in(&1, &10, "b".into()).unwrap();
    l.add_in(&1, &20, "c".into()).unwrap();
    assert_eq!(l.get_in(&1, &10).unwrap(), vec!["a".to_string(), "b".into()]);
    assert_eq!(l.get_in(&1, &20).unwrap(), vec!["c".to_string()]);
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

/// TTL: values and list elements expire, reads refresh when asked to.
pub(crate) fn ttl(backend: &dyn Fn(&ManualClock) -> KeyedStateBackend) {
    let clock = ManualClock::new(1_000);
    let mut b = backend(&clock);
    let ttl = StateTtlConfig::new(Duration::from_millis(100));
    let v = b.value_state::<u64, u64, ()>(&StateDescriptor::new("v").with_ttl(ttl)).unwrap();
    let r = b.value_state::<u64, u64, ()>(&StateDescriptor::new("r").with_ttl(ttl.refresh_on_read())).unwrap();
    let l = b.list_state::<u64, u64, ()>(&StateDescriptor::new("l").with_ttl(ttl)).unwrap();
    v.put(&1, 1).unwrap();
    r.put(&1, 1).unwrap();
    l.add(&1, 1).unwrap();
    clock.advance(60);
    l.add(&1, 2).unwrap();
    assert_eq!(v.get(&1).unwrap(), Some(1));
    assert_eq!(r.get(&1).unwrap(), Some(1)); // refreshed to expire at 1160
    clock.advance(50); // 1110
    assert_eq!(v.get(&1).unwrap(), None, "written at 1000, expired at 1100");
    assert_eq!(r.get(&1).unwrap(), Some(1));
    assert_eq!(l.get(&1).unwrap(), vec![2], "the older element expired, the newer lives");
    clock.advance(200);
    assert_eq!(r.get(&1).unwrap(), None);
    assert!(l.get(&1).unwrap().is_empty());
}
