//! A planner outside the runtime (as the SQL layer will be) builds a job with the runtime's public
//! graph API alone: two sources, a keyed two-input operator on the keyed-operator base (keyed state,
//! an event-time timer), a side output, a rebalanced map and a sink, with uids. Its output equals a
//! computation that shares no engine code, at parallelism 1 and 3.

use ferroflink::Result;
use ferroflink::connectors::collect::{CollectSink, Collected};
use ferroflink::connectors::generator::GeneratorSource;
use ferroflink::record::{Record, Timestamp};
use ferroflink::runtime::context::RuntimeContext;
use ferroflink::runtime::graph::job_graph::JobGraph;
use ferroflink::runtime::graph::stream_graph::{
    Input, Partitioning, Producer, StreamGraph, one_input, sink, two_input,
};
use ferroflink::runtime::keyed::{Fired, KeyedTime, OnTimer, TimeDomain};
use ferroflink::runtime::minicluster::{self, ExecutionSettings};
use ferroflink::runtime::operator::{Operator, Output, OutputTag, TwoInputOperator};
use ferroflink::runtime::watermark::WatermarkStrategy;
use ferroflink::state::{StateDescriptor, ValueState};
use std::collections::BTreeMap;
use std::sync::Arc;

const ORDERS: u64 = 3000;
const KEYS: u64 = 11;

/// (customer, amount, event time)
type Order = (u64, u64, i64);
/// (customer, name)
type Customer = (u64, String);

fn order(i: u64) -> Order {
    (i * 7 % KEYS, i % 13, i as i64)
}

fn customer(i: u64) -> Customer {
    (i, format!("customer-{i}"))
}

/// Totals the orders of each customer and emits `(name, total)` once, when event time ends (a
/// timer at the end of time); orders of customers it never heard of go to a side output then.
struct Totals {
    names: Option<ValueState<u64, String>>,
    totals: Option<ValueState<u64, u64>>,
    unknown: OutputTag<Order>,
    pending: Option<ValueState<u64, Vec<Order>>>,
}

impl OnTimer<u64, (), (String, u64)> for Totals {
    fn on_timer(&mut self, _: &KeyedTime<u64>, fired: Fired<u64, ()>, out: &mut Output<(String, u64)>) -> Result<()> {
        assert_eq!(fired.domain, TimeDomain::EventTime);
        let total = self.totals.as_ref().unwrap().get(&fired.key)?.unwrap_or(0);
        match self.names.as_ref().unwrap().get(&fired.key)? {
            Some(name) => out.collect((name, total), fired.time),
            None => {
                for o in self.pending.as_ref().unwrap().get(&fired.key)?.unwrap_or_default() {
                    out.side(&self.unknown, Record::new(o, o.2));
                }
            }
        }
        Ok(())
    }
}

struct TotalsOp {
    time: KeyedTime<u64>,
    totals: Totals,
}

impl TwoInputOperator for TotalsOp {
    type In1 = Order;
    type In2 = Customer;
    type Out = (String, u64);

    fn open(&mut self, ctx: &mut RuntimeContext) -> Result<()> {
        self.time.open(ctx, "timers")?;
        self.totals.names = Some(ctx.state.value_state(&StateDescriptor::new("names"))?);
        self.totals.totals = Some(ctx.state.value_state(&StateDescriptor::new("totals"))?);
        self.totals.pending = Some(ctx.state.value_state(&StateDescriptor::new("pending"))?);
        Ok(())
    }

    fn process_batch1(&mut self, batch: Vec<Record<Order>>, _: &mut Output<(String, u64)>) -> Result<()> {
        let (totals, pending) = (self.totals.totals.as_ref().unwrap(), self.totals.pending.as_ref().unwrap());
        for r in batch {
            let (key, amount, _) = r.value;
            totals.put(&key, totals.get(&key)?.unwrap_or(0) + amount)?;
            let mut orders = pending.get(&key)?.unwrap_or_default();
            orders.push(r.value);
            pending.put(&key, orders)?;
            self.time.timers().register_event_time_timer(&key, &(), i64::MAX)?;
        }
        Ok(())
    }

    fn process_batch2(&mut self, batch: Vec<Record<Customer>>, _: &mut Output<(String, u64)>) -> Result<()> {
        for r in batch {
            self.totals.names.as_ref().unwrap().put(&r.value.0, r.value.1.clone())?;
            self.time.timers().register_event_time_timer(&r.value.0, &(), i64::MAX)?;
        }
        Ok(())
    }

    fn process_watermark(&mut self, watermark: Timestamp, out: &mut Output<(String, u64)>) -> Result<()> {
        self.time.advance_watermark(watermark, out, &mut self.totals)
    }
}

/// Upper-cases names.
struct Shout;

impl Operator for Shout {
    type In = (String, u64);
    type Out = (String, u64);
    fn process_batch(&mut self, batch: Vec<Record<Self::In>>, out: &mut Output<Self::Out>) -> Result<()> {
        for r in batch {
            out.collect((r.value.0.to_uppercase(), r.value.1), r.timestamp);
        }
        Ok(())
    }
}

/// Plans the job as a planner would, through the public graph API only.
fn plan(parallelism: usize) -> (JobGraph, Collected<(String, u64)>, Collected<Order>) {
    let mut graph = StreamGraph::default();
    graph.config.parallelism = parallelism;
    let strategy = WatermarkStrategy::for_monotonous_timestamps().with_timestamp_assigner(|o: &Order, _| o.2);
    let orders = graph.add_source("orders", GeneratorSource::new(Some(ORDERS), order), strategy);
    // Customers 0..KEYS-2 are known; the last key's orders are unknown.
    let customers = graph.add_source(
        "customers",
        GeneratorSource::new(Some(KEYS - 1), customer),
        WatermarkStrategy::for_monotonous_timestamps().with_timestamp_assigner(|_: &Customer, _| 0),
    );
    let unknown = OutputTag::<Order>::new("unknown");
    let tag = unknown.clone();
    let totals = graph.add_operator(
        "totals",
        two_input(move || TotalsOp {
            time: KeyedTime::new(),
            totals: Totals { names: None, totals: None, pending: None, unknown: tag.clone() },
        }),
    );
    graph.node_mut(totals).uid = Some("totals".into());
    graph.connect(&Input::<Order>::of(orders).keyed(Arc::new(|o: &Order| o.0)), totals, 0);
    graph.connect(&Input::<Customer>::of(customers).keyed(Arc::new(|c: &Customer| c.0)), totals, 1);

    let shout = graph.add_operator("shout", one_input(|| Shout));
    graph.connect(&Input::<(String, u64)>::of(totals).partitioned(Partitioning::Rebalance), shout, 0);
    let main = CollectSink::new();
    let main_results = main.results();
    let out = graph.add_operator("sink", sink(main));
    graph.connect(&Input::<(String, u64)>::of(shout), out, 0);

    let side = CollectSink::new();
    let side_results = side.results();
    let side_out = graph.add_operator("unknown", sink(side));
    let tagged = Producer { node: totals, tag: Some(unknown.id().clone()) };
    graph.connect(&Input::<Order>::from(tagged), side_out, 0);
    (JobGraph::build(graph).unwrap(), main_results, side_results)
}

#[test]
fn a_planner_builds_and_runs_a_job_with_the_public_graph_api() {
    // The reference: plain iteration.
    let mut totals: BTreeMap<u64, u64> = BTreeMap::new();
    for i in 0..ORDERS {
        let (key, amount, _) = order(i);
        *totals.entry(key).or_default() += amount;
    }
    let expected: Vec<(String, u64)> = totals
        .iter()
        .filter(|(k, _)| **k < KEYS - 1)
        .map(|(k, total)| (customer(*k).1.to_uppercase(), *total))
        .collect();
    let mut expected_unknown: Vec<Order> = (0..ORDERS).map(order).filter(|o| o.0 == KEYS - 1).collect();
    expected_unknown.sort();

    for parallelism in [1, 3] {
        let (job, main, side) = plan(parallelism);
        assert!(
            job.vertices.iter().any(|v| v.name.contains("totals") && v.parallelism == parallelism),
            "{}",
            job.describe()
        );
        minicluster::execute(&job, "planner", &ExecutionSettings::default()).unwrap();
        let mut got = main.take();
        got.sort();
        assert_eq!(got, expected, "parallelism {parallelism}");
        let unknown = side.take_records();
        assert!(unknown.iter().all(|r| r.timestamp == r.value.2), "side outputs keep the order's time");
        let mut unknown: Vec<Order> = unknown.into_iter().map(|r| r.value).collect();
        unknown.sort();
        assert_eq!(unknown, expected_unknown, "parallelism {parallelism}");
    }
}
