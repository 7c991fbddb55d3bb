//! Nexmark: the online-auction benchmark's data model and a deterministic,
//! seekable event generator (persons, auctions and bids in the standard
//! 2 : 6 : 92 mix, with event times that run out of order within bounded
//! groups).

mod generator;
mod model;

pub use generator::{FIRST_AUCTION_ID, FIRST_CATEGORY_ID, FIRST_PERSON_ID, NexmarkConfig, NexmarkGenerator};
pub use model::{Auction, Bid, Event, EventKind, Person};

use crate::generator::GeneratorSource;

/// A source of Nexmark events: `events` of them (`None`: unbounded), at most `rate` per second,
/// each with its `date_time` as event timestamp.
pub fn source(config: NexmarkConfig, events: Option<u64>, rate: Option<f64>) -> GeneratorSource<Event> {
    let generator = NexmarkGenerator::new(config);
    let source = GeneratorSource::new(events, move |i| generator.event(i)).with_timestamps(Event::date_time);
    match rate {
        Some(r) => source.with_rate(r),
        None => source,
    }
}
