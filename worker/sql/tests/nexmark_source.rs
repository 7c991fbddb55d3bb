//! The `nexmark` table source against the generator it wraps: the Nexmark repository's DDL and
//! views plan, and counts and extremes per event type over a bounded run equal those computed
//! straight from `NexmarkGenerator` (no SQL involved), at parallelism 1 and 3.

use ferroflink_connectors::collect::CollectSink;
use ferroflink_connectors::nexmark::{Event, NexmarkConfig, NexmarkGenerator};
use ferroflink_datastream::StreamExecutionEnvironment;
use ferroflink_sql::format::RowPrinter;
use ferroflink_sql::planner::Planner;
use ferroflink_sql::{Effect, Session, parse_script};

const EVENTS: u64 = 20_000;

fn script() -> String {
    format!(
        "{} WITH ('connector' = 'nexmark', 'first-event.rate' = '10000000', 'events.num' = '{EVENTS}');
CREATE VIEW bid AS SELECT bid.auction, bid.bidder, bid.price, bid.channel, bid.url, `dateTime`, bid.extra FROM nexmark WHERE event_type = 2;
CREATE VIEW person AS SELECT person.id, person.name, person.city, `dateTime` FROM nexmark WHERE event_type = 0;
SELECT 'bid', COUNT(*), MAX(price), MIN(auction) FROM bid
UNION ALL
SELECT 'person', COUNT(*), MAX(id), MIN(id) FROM person
UNION ALL
SELECT 'auction', COUNT(*), MAX(auction.reserve), MIN(auction.seller) FROM nexmark WHERE event_type = 1;",
        include_str!("nexmark_table.sql")
    )
}

fn run(parallelism: usize) -> Vec<String> {
    let mut session = Session::new();
    let mut lines = Vec::new();
    for statement in parse_script(&script()).unwrap() {
        if let Effect::Query(query) = session.execute(&statement).unwrap() {
            let env = StreamExecutionEnvironment::new();
            env.set_parallelism(parallelism);
            let planner = Planner::new(&session, env.clone()).unwrap();
            let planned = planner.query(&query).unwrap();
            let printer =
                RowPrinter::new(planned.scope.columns.iter().map(|c| c.ty.clone()).collect(), planner.zone().clone());
            let sink = CollectSink::new();
            let rows = sink.results();
            planned.stream.sink_to(sink);
            env.execute("nexmark").unwrap();
            let mut applied = std::collections::BTreeMap::<String, i64>::new();
            for row in rows.take() {
                let mut line = String::new();
                printer.tsv(&mut line, &row);
                let (kind, rest) = line.split_once('\t').unwrap();
                *applied.entry(rest.to_string()).or_default() += if kind.starts_with('+') { 1 } else { -1 };
            }
            lines = applied.into_iter().filter(|(_, n)| *n > 0).map(|(r, _)| r).collect();
        }
    }
    lines
}

#[test]
fn the_nexmark_table_holds_the_generators_events() {
    let generator = NexmarkGenerator::new(NexmarkConfig { event_rate: 10_000_000, ..NexmarkConfig::default() });
    let (mut bids, mut persons, mut auctions) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..EVENTS {
        match generator.event(i) {
            Event::Bid(b) => bids.push(b),
            Event::Person(p) => persons.push(p),
            Event::Auction(a) => auctions.push(a),
        }
    }
    let mut expected = vec![
        format!(
            "bid\t{}\t{}\t{}",
            bids.len(),
            bids.iter().map(|b| b.price).max().unwrap(),
            bids.iter().map(|b| b.auction).min().unwrap()
        ),
        format!(
            "person\t{}\t{}\t{}",
            persons.len(),
            persons.iter().map(|p| p.id).max().unwrap(),
            persons.iter().map(|p| p.id).min().unwrap()
        ),
        format!(
            "auction\t{}\t{}\t{}",
            auctions.len(),
            auctions.iter().map(|a| a.reserve).max().unwrap(),
            auctions.iter().map(|a| a.seller).min().unwrap()
        ),
    ];
    expected.sort();
    for parallelism in [1, 3] {
        assert_eq!(run(parallelism), expected, "parallelism {parallelism}");
    }
}
