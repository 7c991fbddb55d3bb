//! The Nexmark data model: the three record types of the online-auction
//! benchmark (people, auctions, bids) and the [`Event`] union over them.
//!
//! All timestamps (`date_time`, `expires`) are event time in epoch
//! milliseconds. Prices are in cents.

use serde::{Deserialize, Serialize};

/// Bytes counted for every integer field by the `size_in_bytes` methods.
const INT_FIELD_BYTES: usize = 8;

/// A person registered with the auction site (a seller and/or bidder).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Person {
    /// Unique, dense person id (the first person has id
    /// [`FIRST_PERSON_ID`](super::FIRST_PERSON_ID)).
    pub id: u64,
    /// Full name, `"<first> <last>"`.
    pub name: String,
    /// E-mail address.
    pub email_address: String,
    /// Credit-card number, four space-separated groups of four digits.
    pub credit_card: String,
    /// City of residence.
    pub city: String,
    /// Two-letter US state code.
    pub state: String,
    /// Registration time, epoch milliseconds (event time).
    pub date_time: i64,
    /// Padding that brings the record to its configured average size.
    pub extra: String,
}

impl Person {
    /// Nominal size of the record: the bytes of its strings plus 8 bytes per
    /// integer field. This is the measure the generator's `extra` padding
    /// targets.
    pub fn size_in_bytes(&self) -> usize {
        2 * INT_FIELD_BYTES
            + self.name.len()
            + self.email_address.len()
            + self.credit_card.len()
            + self.city.len()
            + self.state.len()
            + self.extra.len()
    }
}

/// An item put up for auction by a seller.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Auction {
    /// Unique, dense auction id (the first auction has id
    /// [`FIRST_AUCTION_ID`](super::FIRST_AUCTION_ID)).
    pub id: u64,
    /// Short name of the item.
    pub item_name: String,
    /// Longer description of the item.
    pub description: String,
    /// Opening price, in cents.
    pub initial_bid: u64,
    /// Reserve price (always at least `initial_bid`), in cents.
    pub reserve: u64,
    /// Time the auction opened, epoch milliseconds (event time).
    pub date_time: i64,
    /// Time the auction closes, epoch milliseconds; always after `date_time`.
    pub expires: i64,
    /// Id of the selling [`Person`].
    pub seller: u64,
    /// Category id (categories start at
    /// [`FIRST_CATEGORY_ID`](super::FIRST_CATEGORY_ID)).
    pub category: u64,
    /// Padding that brings the record to its configured average size.
    pub extra: String,
}

impl Auction {
    /// Nominal size of the record: the bytes of its strings plus 8 bytes per
    /// integer field. This is the measure the generator's `extra` padding
    /// targets.
    pub fn size_in_bytes(&self) -> usize {
        7 * INT_FIELD_BYTES + self.item_name.len() + self.description.len() + self.extra.len()
    }
}

/// A bid by a person on an auction.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Bid {
    /// Id of the [`Auction`] bid on.
    pub auction: u64,
    /// Id of the bidding [`Person`].
    pub bidder: u64,
    /// Bid price, in cents.
    pub price: u64,
    /// Channel the bid came through (e.g. `"Google"` or `"channel-42"`).
    pub channel: String,
    /// URL the bid came from.
    pub url: String,
    /// Time of the bid, epoch milliseconds (event time).
    pub date_time: i64,
    /// Padding that brings the record to its configured average size.
    pub extra: String,
}

impl Bid {
    /// Nominal size of the record: the bytes of its strings plus 8 bytes per
    /// integer field. This is the measure the generator's `extra` padding
    /// targets.
    pub fn size_in_bytes(&self) -> usize {
        4 * INT_FIELD_BYTES + self.channel.len() + self.url.len() + self.extra.len()
    }
}

/// Which of the three record types an [`Event`] carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventKind {
    /// A [`Person`] registration.
    Person,
    /// A new [`Auction`].
    Auction,
    /// A [`Bid`].
    Bid,
}

/// One element of the Nexmark stream.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Event {
    /// A new person registered.
    Person(Person),
    /// A new auction opened.
    Auction(Auction),
    /// A bid was placed.
    Bid(Bid),
}

impl Event {
    /// Event time of the record, epoch milliseconds.
    pub fn date_time(&self) -> i64 {
        match self {
            Event::Person(p) => p.date_time,
            Event::Auction(a) => a.date_time,
            Event::Bid(b) => b.date_time,
        }
    }

    /// Which record type this event carries.
    pub fn kind(&self) -> EventKind {
        match self {
            Event::Person(_) => EventKind::Person,
            Event::Auction(_) => EventKind::Auction,
            Event::Bid(_) => EventKind::Bid,
        }
    }

    /// Nominal size of the carried record (see [`Bid::size_in_bytes`]).
    pub fn size_in_bytes(&self) -> usize {
        match self {
            Event::Person(p) => p.size_in_bytes(),
            Event::Auction(a) => a.size_in_bytes(),
            Event::Bid(b) => b.size_in_bytes(),
        }
    }
}
