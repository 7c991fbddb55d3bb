//! Nexmark queries give the same results at parallelism 1 and 4, equal to a reference computed
//! directly from the generated events (no engine code involved).

use ferroflink::connectors::nexmark::{Event, NexmarkConfig, NexmarkGenerator};
use ferroflink::datastream::StreamExecutionEnvironment;
use ferroflink::jobs::nexmark::{self, HighestBid, NewUser};
use ferroflink::record::Data;
use std::collections::{BTreeMap, BTreeSet, HashMap};

const EVENTS: u64 = 200_000;
const W: i64 = 10_000;
const S: i64 = 2_000;

fn all_events() -> Vec<Event> {
    let g = NexmarkGenerator::new(NexmarkConfig::default());
    (0..EVENTS).map(|i| g.event(i)).collect()
}

/// Runs `query` over the events at `parallelism`, returning sorted results and per-subtask input
/// counts of the vertex named `vertex`.
fn run<T: Data + Ord>(
    parallelism: usize,
    query: fn(&ferroflink::datastream::DataStream<Event>) -> ferroflink::datastream::DataStream<T>,
    vertex: &str,
) -> Vec<T> {
    let env = StreamExecutionEnvironment::new();
    env.set_parallelism(parallelism);
    let events = nexmark::events(&env, NexmarkConfig::default(), Some(EVENTS), None);
    let out = query(&events).collect();
    let result = env.execute("nexmark test").unwrap();
    let v = result.vertex(vertex).unwrap_or_else(|| panic!("no vertex {vertex}: {:?}", result.vertices));
    assert_eq!(v.subtasks.len(), parallelism);
    assert!(v.subtasks.iter().all(|s| s.records_in > 0), "every subtask of {vertex} gets records");
    let mut rows = out.take();
    rows.sort();
    rows
}

fn counts_per_sliding_window(events: &[Event]) -> BTreeMap<(i64, u64), u64> {
    let mut counts = BTreeMap::new();
    for e in events {
        if let Event::Bid(b) = e {
            let mut start = b.date_time.div_euclid(S) * S;
            while start > b.date_time - W {
                *counts.entry((start + W, b.auction)).or_insert(0) += 1;
                start -= S;
            }
        }
    }
    counts
}

#[test]
fn q5_hot_items_matches_reference_at_1_and_4() {
    let counts = counts_per_sliding_window(&all_events());
    let mut best: BTreeMap<i64, u64> = BTreeMap::new();
    for (&(end, _), &c) in &counts {
        let b = best.entry(end).or_insert(0);
        *b = (*b).max(c);
    }
    let expected: Vec<(i64, u64, u64)> =
        counts.iter().filter(|((end, _), c)| best[end] == **c).map(|(&(end, a), &c)| (end, a, c)).collect();
    assert!(expected.len() >= 10, "one row per window at least");
    assert_eq!(run(1, nexmark::q5, "AuctionBids"), expected);
    assert_eq!(run(4, nexmark::q5, "AuctionBids"), expected);
}

#[test]
fn q7_highest_bid_matches_reference_at_1_and_4() {
    let mut best: BTreeMap<i64, (u64, BTreeSet<HighestBid>)> = BTreeMap::new();
    for e in all_events() {
        if let Event::Bid(b) = e {
            let end = b.date_time.div_euclid(W) * W + W;
            let row = (end, b.price, b.auction, b.bidder, b.date_time);
            let slot = best.entry(end).or_insert((0, BTreeSet::new()));
            if b.price > slot.0 {
                *slot = (b.price, BTreeSet::from([row]));
            } else if b.price == slot.0 {
                slot.1.insert(row);
            }
        }
    }
    let expected: Vec<HighestBid> = best.into_values().flat_map(|(_, rows)| rows).collect();
    assert!(expected.len() >= 2);
    assert_eq!(run(1, nexmark::q7, "MaxPerAuction"), expected);
    assert_eq!(run(4, nexmark::q7, "MaxPerAuction"), expected);
}

#[test]
fn tumble_and_hop_counts_match_reference() {
    let events = all_events();
    let mut tumble: BTreeMap<(u64, i64), u64> = BTreeMap::new();
    for e in &events {
        if let Event::Bid(b) = e {
            *tumble.entry((b.auction, b.date_time.div_euclid(W) * W + W)).or_insert(0) += 1;
        }
    }
    let expected: Vec<(u64, i64, u64)> = tumble.into_iter().map(|((a, end), c)| (a, end, c)).collect();
    assert_eq!(run(1, nexmark::tumble_count, "TumbleCount"), expected);
    assert_eq!(run(4, nexmark::tumble_count, "TumbleCount"), expected);
    let mut expected: Vec<(u64, i64, u64)> =
        counts_per_sliding_window(&events).into_iter().map(|((end, a), c)| (a, end, c)).collect();
    expected.sort();
    assert_eq!(run(4, nexmark::hop_count, "HopCount"), expected);
}

#[test]
fn q8_new_users_match_reference_at_1_and_4() {
    let mut persons: HashMap<(u64, i64), String> = HashMap::new();
    let mut sellers: BTreeSet<(u64, i64)> = BTreeSet::new();
    for e in all_events() {
        match e {
            Event::Person(p) => {
                persons.insert((p.id, p.date_time.div_euclid(W) * W), p.name);
            }
            Event::Auction(a) => {
                sellers.insert((a.seller, a.date_time.div_euclid(W) * W));
            }
            Event::Bid(_) => {}
        }
    }
    let mut expected: Vec<NewUser> =
        sellers.iter().filter_map(|k| persons.get(k).map(|name| (k.0, name.clone(), k.1))).collect();
    expected.sort();
    assert!(expected.len() > 10);
    assert_eq!(run(1, nexmark::q8, "NewUsers"), expected);
    assert_eq!(run(4, nexmark::q8, "NewUsers"), expected);
}

#[test]
fn q1_and_q2_transform_every_bid() {
    let events = all_events();
    let mut expected_q2: Vec<(u64, u64)> = events
        .iter()
        .filter_map(|e| match e {
            Event::Bid(b) if b.auction % 123 == 0 => Some((b.auction, b.price)),
            _ => None,
        })
        .collect();
    expected_q2.sort();
    assert_eq!(run(4, nexmark::q2, "Selection"), expected_q2);
    let bids = events.iter().filter(|e| matches!(e, Event::Bid(_))).count();
    let env = StreamExecutionEnvironment::new();
    env.set_parallelism(2);
    let out = nexmark::q1(&nexmark::events(&env, NexmarkConfig::default(), Some(EVENTS), None)).collect();
    env.execute("q1").unwrap();
    let rows = out.take();
    assert_eq!(rows.len(), bids);
    assert!(rows.iter().all(|r| r.price > 0.0));
}
