//! `'connector' = 'nexmark'`: the built-in Nexmark generator as a table, with the nexmark
//! repository's DDL (`event_type INT`, then `person`, `auction` and `bid` as nested `ROW` columns,
//! NULL but for the event's own; fields by the repository's names: `emailAddress`, `itemName`,
//! `initialBid`, `dateTime`, ...) and its options: `events.num` (default: unbounded),
//! `first-event.rate` and `next-event.rate` (events per second, of event time and at most of wall
//! time; only one rate), `person.proportion`, `auction.proportion`, `bid.proportion`,
//! `auction.num-in-flight` and `seed`. A table declares any subset of the columns and fields, in
//! any order; the three views of the repository (`person`, `auction`, `bid`) are plain SQL views
//! over it.

use super::Options;
use crate::ast::{DataType, Field, Type};
use crate::error::SqlError;
use crate::value::{Row, Value};
use ferroflink_connectors::generator::GeneratorSource;
use ferroflink_connectors::nexmark::{Event, NexmarkConfig, NexmarkGenerator};
use ferroflink_datastream::{DataStream, StreamExecutionEnvironment};
use ferroflink_runtime::watermark::WatermarkStrategy;
use std::sync::Arc;

/// A field of a Nexmark record, by the repository's name.
#[derive(Clone, Copy, Debug)]
enum Source {
    Person(&'static str),
    Auction(&'static str),
    Bid(&'static str),
}

const PERSON: [&str; 8] = ["id", "name", "emailAddress", "creditCard", "city", "state", "dateTime", "extra"];
const AUCTION: [&str; 10] =
    ["id", "itemName", "description", "initialBid", "reserve", "dateTime", "expires", "seller", "category", "extra"];
const BID: [&str; 7] = ["auction", "bidder", "price", "channel", "url", "dateTime", "extra"];

/// What a column is made of: a value, or a row of fields.
#[derive(Clone, Debug)]
enum Column {
    EventType,
    Record(Vec<Source>),
}

fn record_fields(
    options: &Options,
    column: &str,
    fields: &[Field],
    known: &'static [&'static str],
    make: fn(&'static str) -> Source,
) -> Result<Vec<Source>, SqlError> {
    fields
        .iter()
        .map(|f| {
            let name = known.iter().find(|k| **k == f.name).ok_or_else(|| {
                options.error(format!("`{column}` has no field `{}`; its fields are {}", f.name, known.join(", ")))
            })?;
            let expected = match *name {
                "dateTime" | "expires" => matches!(f.ty.data, DataType::Timestamp(_) | DataType::TimestampLtz(_)),
                "name" | "emailAddress" | "creditCard" | "city" | "state" | "extra" | "itemName" | "description"
                | "channel" | "url" => matches!(f.ty.data, DataType::VarChar(_) | DataType::Char(_)),
                _ => f.ty.data == DataType::BigInt,
            };
            if !expected {
                return Err(
                    options.error(format!("`{column}.{name}` is declared {}, which Nexmark's field is not", f.ty.data))
                );
            }
            Ok(make(name))
        })
        .collect()
}

/// The Nexmark table's rows.
pub(super) fn source(
    env: &StreamExecutionEnvironment,
    options: &mut Options,
    columns: &[(String, Type)],
    batch: bool,
    strategy: WatermarkStrategy<Row>,
) -> Result<DataStream<Row>, SqlError> {
    let count = options.number::<u64>("events.num")?;
    if batch && count.is_none() {
        return Err(options.error("is unbounded, and batch mode reads bounded tables only: set 'events.num'"));
    }
    let first = options.number::<f64>("first-event.rate")?;
    let next = options.number::<f64>("next-event.rate")?;
    if first.is_some() && next.is_some() && first != next {
        return Err(options.error("a 'next-event.rate' other than 'first-event.rate' is not supported: give one rate"));
    }
    let rate = first.or(next).unwrap_or(10_000.0);
    if rate < 1.0 {
        return Err(options.error("'first-event.rate' is at least 1 event per second"));
    }
    let defaults = NexmarkConfig::default();
    let config = NexmarkConfig {
        seed: options.number("seed")?.unwrap_or(defaults.seed),
        event_rate: rate as u64,
        person_proportion: options.number("person.proportion")?.unwrap_or(defaults.person_proportion),
        auction_proportion: options.number("auction.proportion")?.unwrap_or(defaults.auction_proportion),
        bid_proportion: options.number("bid.proportion")?.unwrap_or(defaults.bid_proportion),
        num_in_flight_auctions: options.number("auction.num-in-flight")?.unwrap_or(defaults.num_in_flight_auctions),
        ..defaults
    };
    if config.person_proportion == 0 || config.auction_proportion == 0 {
        return Err(options.error("'person.proportion' and 'auction.proportion' are at least 1"));
    }
    let mut made = Vec::with_capacity(columns.len());
    for (name, ty) in columns {
        let column = match (name.as_str(), &ty.data) {
            ("event_type", DataType::Int) => Column::EventType,
            ("person", DataType::Row(fields)) => {
                Column::Record(record_fields(options, name, fields, &PERSON, Source::Person)?)
            }
            ("auction", DataType::Row(fields)) => {
                Column::Record(record_fields(options, name, fields, &AUCTION, Source::Auction)?)
            }
            ("bid", DataType::Row(fields)) => Column::Record(record_fields(options, name, fields, &BID, Source::Bid)?),
            _ => {
                return Err(options.error(format!(
                    "column `{name}` {} is not Nexmark's: its columns are event_type INT, person ROW<..>, auction ROW<..>, bid ROW<..>",
                    ty.data
                )));
            }
        };
        made.push(column);
    }
    let columns: Arc<[Column]> = made.into();
    let generator = NexmarkGenerator::new(config);
    let source = GeneratorSource::new(count, move |i| row(&generator.event(i), &columns)).with_rate(rate);
    Ok(env.from_source(source, strategy, &format!("Source: {}", options.table())))
}

fn text(s: &str) -> Value {
    Value::String(s.to_string())
}

fn time(millis: i64) -> Value {
    Value::from_millis(millis, &DataType::Timestamp(3))
}

fn id(v: u64) -> Value {
    Value::BigInt(v as i64)
}

/// The value of field `source` of `event`, NULL when the event is of another kind.
fn field(event: &Event, source: Source) -> Value {
    match (event, source) {
        (Event::Person(p), Source::Person(f)) => match f {
            "id" => id(p.id),
            "name" => text(&p.name),
            "emailAddress" => text(&p.email_address),
            "creditCard" => text(&p.credit_card),
            "city" => text(&p.city),
            "state" => text(&p.state),
            "dateTime" => time(p.date_time),
            _ => text(&p.extra),
        },
        (Event::Auction(a), Source::Auction(f)) => match f {
            "id" => id(a.id),
            "itemName" => text(&a.item_name),
            "description" => text(&a.description),
            "initialBid" => id(a.initial_bid),
            "reserve" => id(a.reserve),
            "dateTime" => time(a.date_time),
            "expires" => time(a.expires),
            "seller" => id(a.seller),
            "category" => id(a.category),
            _ => text(&a.extra),
        },
        (Event::Bid(b), Source::Bid(f)) => match f {
            "auction" => id(b.auction),
            "bidder" => id(b.bidder),
            "price" => id(b.price),
            "channel" => text(&b.channel),
            "url" => text(&b.url),
            "dateTime" => time(b.date_time),
            _ => text(&b.extra),
        },
        _ => Value::Null,
    }
}

fn row(event: &Event, columns: &[Column]) -> Row {
    let kind = match event {
        Event::Person(_) => 0,
        Event::Auction(_) => 1,
        Event::Bid(_) => 2,
    };
    let values = columns
        .iter()
        .map(|c| match c {
            Column::EventType => Value::Int(kind),
            Column::Record(fields) => {
                let mine = matches!(
                    (event, fields.first()),
                    (Event::Person(_), Some(Source::Person(_)))
                        | (Event::Auction(_), Some(Source::Auction(_)))
                        | (Event::Bid(_), Some(Source::Bid(_)))
                );
                if mine { Value::Row(fields.iter().map(|f| field(event, *f)).collect()) } else { Value::Null }
            }
        })
        .collect();
    Row::insert(values)
}
