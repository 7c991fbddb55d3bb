//! `nexmark`: queries of the Nexmark benchmark over generated auction events, written with the
//! DataStream API, plus two benchmark shapes (`tumble-count`, `hop-count`).
//!
//! - q0: pass-through of bids.
//! - q1: currency conversion of bid prices (× 0.908).
//! - q2: bids of auctions whose id is a multiple of 123.
//! - q5: hot items: bids per auction in 10 s windows sliding by 2 s; per window the auctions with
//!   the most bids.
//! - q7: highest bid per 10 s tumbling window.
//! - q8: new users: persons who opened an auction in the same 10 s tumbling window as they registered.
//! - tumble-count: bids per auction per 10 s tumbling window.
//! - hop-count: bids per auction per 10 s window sliding by 2 s (q5 without its max step).
//!
//! Every result carries its window end where it has one, so results are comparable across runs.
//!
//! Also the nexmark repository's SQL function for q14, [`count_char`].

use super::{BuiltJob, Report};
use crate::connectors::checksum::ChecksumSink;
use crate::connectors::file::FileSink;
use crate::connectors::nexmark::{self, Auction, Bid, Event, NexmarkConfig, NexmarkGenerator, Person};
use crate::datastream::window::assigner::{
    SlidingEventTimeWindows, TimeWindow, TumblingEventTimeWindows, window_start,
};
use crate::datastream::{
    AggregateFunction, Count, DataStream, KeyedCoProcessFunction, KeyedContext, KeyedProcessFunction,
    StreamExecutionEnvironment,
};
use crate::error::{Error, Result};
use crate::record::{Data, Timestamp};
use crate::runtime::context::RuntimeContext;
use crate::runtime::watermark::WatermarkStrategy;
use crate::sql::value::Value;
use crate::state::{MapState, StateDescriptor, ValueState};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

/// Window length of q5, q7, q8 and the benchmark shapes.
pub const WINDOW: Duration = Duration::from_secs(10);
/// Slide of q5 and hop-count.
pub const SLIDE: Duration = Duration::from_secs(2);

/// Arguments of `ferroflink run nexmark`.
#[derive(Debug, clap::Parser)]
#[command(name = "ferroflink run nexmark")]
pub struct Args {
    /// Which query.
    #[arg(long, value_parser = ["q0", "q1", "q2", "q5", "q7", "q8", "tumble-count", "hop-count"])]
    pub query: String,
    /// Nexmark events to generate (persons, auctions and bids); unbounded when absent.
    #[arg(long)]
    pub events: Option<u64>,
    /// Events per second over all source readers (default: as fast as possible).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Events per second of event time (the events' timestamps; not a limit on wall time).
    #[arg(long, default_value_t = 10_000)]
    pub event_rate: u64,
    /// Seed of the generator.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Bids go to one of this many most recent auctions (the key space of tumble-count and
    /// hop-count); Nexmark's default is 100.
    #[arg(long, default_value_t = 100)]
    pub in_flight_auctions: u64,
    /// A bid goes to the hot auction with probability 1 - 1/ratio (1: no hot auction).
    #[arg(long, default_value_t = 2)]
    pub hot_auction_ratio: u64,
    /// Directory (or `s3://bucket/prefix`) for the results as exactly-once part files (default:
    /// only the checksum).
    #[arg(long)]
    pub output: Option<PathBuf>,
}

/// The events of a generator config as a stream with event-time timestamps and watermarks.
pub fn events(
    env: &StreamExecutionEnvironment,
    config: NexmarkConfig,
    count: Option<u64>,
    rate: Option<f64>,
) -> DataStream<Event> {
    let bound = NexmarkGenerator::new(config.clone()).max_out_of_orderness_ms();
    let strategy = WatermarkStrategy::for_bounded_out_of_orderness(Duration::from_millis(bound as u64));
    env.from_source(nexmark::source(config, count, rate), strategy, "Nexmark Source").uid("nexmark-source")
}

fn bids(events: &DataStream<Event>) -> DataStream<Bid> {
    events
        .flat_map(|e: Event| match e {
            Event::Bid(b) => Some(b),
            _ => None,
        })
        .name("Bids")
}

/// The auction of each bid, timestamped: all the counting queries need, so the strings of a bid
/// never cross a channel (the projection a SQL planner would push down).
fn bid_auctions(events: &DataStream<Event>) -> DataStream<u64> {
    events
        .flat_map(|e: Event| match e {
            Event::Bid(b) => Some(b.auction),
            _ => None,
        })
        .name("BidAuctions")
}

/// q0: every bid, unchanged.
pub fn q0(events: &DataStream<Event>) -> DataStream<Bid> {
    bids(events).map(|b: Bid| b).name("PassThrough")
}

/// q1 result: a bid with its price in euros.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EuroBid {
    /// Auction id.
    pub auction: u64,
    /// Bidder id.
    pub bidder: u64,
    /// Price × 0.908.
    pub price: f64,
    /// Event time.
    pub date_time: i64,
}

/// q1: prices converted to euros.
pub fn q1(events: &DataStream<Event>) -> DataStream<EuroBid> {
    bids(events)
        .map(|b: Bid| EuroBid {
            auction: b.auction,
            bidder: b.bidder,
            price: b.price as f64 * 0.908,
            date_time: b.date_time,
        })
        .name("CurrencyConversion")
}

/// q2: (auction, price) of bids on auctions whose id is a multiple of 123.
pub fn q2(events: &DataStream<Event>) -> DataStream<(u64, u64)> {
    events
        .flat_map(|e: Event| match e {
            Event::Bid(b) if b.auction % 123 == 0 => Some((b.auction, b.price)),
            _ => None,
        })
        .name("Selection")
}

/// (auction, window end, bids) per 10 s tumbling window.
pub fn tumble_count(events: &DataStream<Event>) -> DataStream<(u64, i64, u64)> {
    bid_auctions(events)
        .key_by(|auction: &u64| *auction)
        .window(TumblingEventTimeWindows::of(WINDOW))
        .aggregate_with(Count, |auction: &u64, w: &TimeWindow, n| (*auction, w.end, n))
        .name("TumbleCount")
        .uid("tumble-count")
}

/// (auction, window end, bids) per 10 s window sliding by 2 s.
pub fn hop_count(events: &DataStream<Event>) -> DataStream<(u64, i64, u64)> {
    bid_auctions(events)
        .key_by(|auction: &u64| *auction)
        .window(SlidingEventTimeWindows::of(WINDOW, SLIDE))
        .aggregate_with(Count, |auction: &u64, w: &TimeWindow, n| (*auction, w.end, n))
        .name("HopCount")
        .uid("hop-count")
}

/// Keeps, per window end, the rows with the highest score; emits them when the watermark passes
/// the window (all upstream results for it have arrived by then).
#[derive(Clone)]
struct TopPerWindow<R> {
    score: fn(&R) -> u64,
}

impl<R: Data + Ord> KeyedProcessFunction<i64, R, R> for TopPerWindow<R> {
    type State = ValueState<i64, (u64, Vec<R>)>;

    fn open(&mut self, ctx: &mut RuntimeContext) -> Result<Self::State> {
        ctx.state.value_state(&StateDescriptor::new("best"))
    }

    fn process_element(&mut self, best: &mut Self::State, row: R, ctx: &mut KeyedContext<'_, i64, R>) -> Result<()> {
        let score = (self.score)(&row);
        let next = match best.get(ctx.key())? {
            Some((s, mut rows)) if s == score => {
                rows.push(row);
                (s, rows)
            }
            Some((s, rows)) if s > score => (s, rows),
            _ => (score, vec![row]),
        };
        best.put(ctx.key(), next)?;
        ctx.register_event_time_timer(ctx.key() - 1)
    }

    fn on_timer(
        &mut self,
        best: &mut Self::State,
        timestamp: Timestamp,
        ctx: &mut KeyedContext<'_, i64, R>,
    ) -> Result<()> {
        if let Some((_, mut rows)) = best.get(ctx.key())? {
            rows.sort();
            for r in rows {
                ctx.collect_with_timestamp(r, timestamp);
            }
            best.clear(ctx.key())?;
        }
        Ok(())
    }
}

/// q5: (window end, auction, bids) of the auctions with the most bids per sliding window.
pub fn q5(events: &DataStream<Event>) -> DataStream<(i64, u64, u64)> {
    bid_auctions(events)
        .key_by(|auction: &u64| *auction)
        .window(SlidingEventTimeWindows::of(WINDOW, SLIDE))
        .aggregate_with(Count, |auction: &u64, w: &TimeWindow, n| (w.end, *auction, n))
        .name("AuctionBids")
        .uid("q5-auction-bids")
        .key_by(|r: &(i64, u64, u64)| r.0)
        .process(TopPerWindow { score: |r: &(i64, u64, u64)| r.2 })
        .name("HotItems")
        .uid("q5-hot-items")
}

/// The fields of a bid q7 reports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PricedBid {
    /// Auction id.
    pub auction: u64,
    /// Bidder id.
    pub bidder: u64,
    /// Price.
    pub price: u64,
    /// Event time.
    pub date_time: i64,
}

/// The bids with the highest price seen (all of them on a tie).
#[derive(Clone, Copy, Debug)]
pub struct MaxBids;

impl AggregateFunction<PricedBid> for MaxBids {
    type Acc = (u64, Vec<PricedBid>);
    type Out = (u64, Vec<PricedBid>);
    fn create_accumulator(&self) -> Self::Acc {
        (0, Vec::new())
    }
    fn add(&self, bid: PricedBid, acc: &mut Self::Acc) {
        if bid.price > acc.0 || acc.1.is_empty() {
            *acc = (bid.price, vec![bid]);
        } else if bid.price == acc.0 {
            acc.1.push(bid);
        }
    }
    fn get_result(&self, acc: &Self::Acc) -> Self::Out {
        acc.clone()
    }
    fn merge(&self, acc: &mut Self::Acc, other: Self::Acc) {
        for b in other.1 {
            self.add(b, acc);
        }
    }
}

/// q7 result row: (window end, price, auction, bidder, bid time).
pub type HighestBid = (i64, u64, u64, u64, i64);

/// q7: the highest bids of each 10 s tumbling window.
pub fn q7(events: &DataStream<Event>) -> DataStream<HighestBid> {
    events
        .flat_map(|e: Event| match e {
            Event::Bid(b) => {
                Some(PricedBid { auction: b.auction, bidder: b.bidder, price: b.price, date_time: b.date_time })
            }
            _ => None,
        })
        .name("PricedBids")
        .key_by(|b: &PricedBid| b.auction)
        .window(TumblingEventTimeWindows::of(WINDOW))
        .aggregate_with(MaxBids, |_: &u64, w: &TimeWindow, (_, bids): (u64, Vec<PricedBid>)| {
            bids.into_iter().map(|b| (w.end, b.price, b.auction, b.bidder, b.date_time)).collect::<Vec<HighestBid>>()
        })
        .name("MaxPerAuction")
        .uid("q7-max-per-auction")
        .flat_map(|rows: Vec<HighestBid>| rows)
        .key_by(|r: &HighestBid| r.0)
        .process(TopPerWindow { score: |r: &HighestBid| r.1 })
        .name("HighestBid")
        .uid("q7-highest-bid")
}

/// q8 result row: (person id, name, window start).
pub type NewUser = (u64, String, i64);

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct JoinSlot {
    name: Option<String>,
    auction: bool,
    emitted: bool,
}

/// Joins persons and auctions of the same seller in the same tumbling window.
#[derive(Clone)]
struct NewUsers {
    size: i64,
}

type JoinSlots = MapState<u64, i64, JoinSlot>;

impl NewUsers {
    fn update(
        &self,
        slots: &JoinSlots,
        ts: Timestamp,
        ctx: &mut KeyedContext<'_, u64, NewUser>,
        f: impl FnOnce(&mut JoinSlot),
    ) -> Result<()> {
        let start = window_start(ts, 0, self.size);
        let mut slot = slots.get(ctx.key(), &start)?.unwrap_or_default();
        f(&mut slot);
        if let (Some(name), true, false) = (&slot.name, slot.auction, slot.emitted) {
            ctx.collect_with_timestamp((*ctx.key(), name.clone(), start), start + self.size - 1);
            slot.emitted = true;
        }
        slots.put(ctx.key(), start, slot)?;
        ctx.register_event_time_timer(start + self.size - 1)
    }
}

impl KeyedCoProcessFunction<u64, Person, Auction, NewUser> for NewUsers {
    type State = JoinSlots;
    fn open(&mut self, ctx: &mut RuntimeContext) -> Result<JoinSlots> {
        ctx.state.map_state(&StateDescriptor::new("windows"))
    }
    fn process_element1(
        &mut self,
        slots: &mut JoinSlots,
        p: Person,
        ctx: &mut KeyedContext<'_, u64, NewUser>,
    ) -> Result<()> {
        let ts = ctx.timestamp().unwrap_or(p.date_time);
        self.update(slots, ts, ctx, |s| s.name = Some(p.name))
    }
    fn process_element2(
        &mut self,
        slots: &mut JoinSlots,
        a: Auction,
        ctx: &mut KeyedContext<'_, u64, NewUser>,
    ) -> Result<()> {
        let ts = ctx.timestamp().unwrap_or(a.date_time);
        self.update(slots, ts, ctx, |s| s.auction = true)
    }
    fn on_timer(
        &mut self,
        slots: &mut JoinSlots,
        timestamp: Timestamp,
        ctx: &mut KeyedContext<'_, u64, NewUser>,
    ) -> Result<()> {
        let start = timestamp + 1 - self.size;
        slots.remove(ctx.key(), &start)
    }
}

/// q8: persons who opened an auction in the 10 s window they registered in.
pub fn q8(events: &DataStream<Event>) -> DataStream<NewUser> {
    let persons = events
        .flat_map(|e: Event| match e {
            Event::Person(p) => Some(p),
            _ => None,
        })
        .name("Persons");
    let auctions = events
        .flat_map(|e: Event| match e {
            Event::Auction(a) => Some(a),
            _ => None,
        })
        .name("Auctions");
    persons
        .key_by(|p: &Person| p.id)
        .connect(&auctions.key_by(|a: &Auction| a.seller))
        .process(NewUsers { size: WINDOW.as_millis() as i64 })
        .name("NewUsers")
        .uid("q8-new-users")
}

fn finish<T: Data>(results: DataStream<T>, output: Option<PathBuf>) -> crate::connectors::checksum::Checksum {
    let (sink, checksum) = ChecksumSink::new();
    results.sink_to(sink).name("Checksum");
    if let Some(dir) = output {
        results.sink_to(FileSink::new(dir, |r: &T| format!("{r:?}"))).name("File Sink");
    }
    checksum
}

/// Builds the job.
pub fn build(env: StreamExecutionEnvironment, args: Args) -> Result<BuiltJob> {
    let config = NexmarkConfig {
        seed: args.seed,
        event_rate: args.event_rate.max(1),
        num_in_flight_auctions: args.in_flight_auctions.max(1),
        hot_auction_ratio: args.hot_auction_ratio,
        ..NexmarkConfig::default()
    };
    let events = events(&env, config, args.events, args.rate);
    let out = args.output;
    let checksum = match args.query.as_str() {
        "q0" => finish(q0(&events), out),
        "q1" => finish(q1(&events), out),
        "q2" => finish(q2(&events), out),
        "q5" => finish(q5(&events), out),
        "q7" => finish(q7(&events), out),
        "q8" => finish(q8(&events), out),
        "tumble-count" => finish(tumble_count(&events), out),
        "hop-count" => finish(hop_count(&events), out),
        other => return Err(Error::InvalidJob(format!("unknown Nexmark query '{other}'"))),
    };
    Ok(BuiltJob {
        env,
        name: format!("nexmark {}", args.query),
        report: Report::Summary { title: format!("nexmark {}", args.query), events: args.events, checksum },
    })
}

/// The identifier the nexmark repository's q14 binds `count_char` to
/// (`CREATE FUNCTION count_char AS '...'`).
pub const COUNT_CHAR: &str = "com.github.nexmark.flink.udf.CountChar";

/// `count_char(s, c)`: how many characters of `s` are the first character of `c`, as a `BIGINT`
/// (0 for a NULL `s`, and for a NULL or empty `c`), as the repository's `CountChar` counts.
pub fn count_char(args: &[Value]) -> std::result::Result<Value, String> {
    let count = match args {
        [Value::String(s), Value::String(c)] => match c.chars().next() {
            Some(wanted) => s.chars().filter(|&ch| ch == wanted).count() as i64,
            None => 0,
        },
        _ => 0,
    };
    Ok(Value::BigInt(count))
}
