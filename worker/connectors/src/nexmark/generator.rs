//! Deterministic Nexmark event generator.
//!
//! [`NexmarkGenerator::event`] is a pure function of the configuration and a
//! global sequence number (`index`): any subtask can produce any slice of the
//! stream independently, in any order, and gets the same events on every
//! machine. Randomness comes from a private SplitMix64 stream seeded from
//! `(seed, index)`; floating point is only used in ways IEEE 754 makes exact
//! (no `powf`/`exp` from the platform's libm), so results never depend on a
//! crate version or a platform.
//!
//! # Stream layout
//!
//! * **Mix.** With proportions `p : a : b` (default `1 : 3 : 46`) and
//!   `total = p + a + b`, event `index` is a person if `index % total < p`,
//!   an auction if it is `< p + a`, and a bid otherwise.
//! * **Ids.** Person and auction ids are dense and increase with the index:
//!   the `k`-th person (0-based) has id [`FIRST_PERSON_ID`]` + k`, the `k`-th
//!   auction [`FIRST_AUCTION_ID`]` + k`.
//! * **References.** Sellers and bidders are persons, and bids are on
//!   auctions, that have a smaller index than the referencing event. Mostly
//!   recent ones: a bid is on one of the last `num_in_flight_auctions + 1`
//!   auctions, or (with probability `1 - 1/hot_auction_ratio`) on the current
//!   *hot* auction: the latest auction whose id minus [`FIRST_AUCTION_ID`] is
//!   a multiple of 100. Sellers and bidders are likewise one of the last
//!   `num_active_people` persons, or (with probability `1 - 1/ratio`) the
//!   current hot seller (latest person whose id minus [`FIRST_PERSON_ID`] is
//!   a multiple of 100) / hot bidder (the person after the hot seller).
//! * **Time.** Position `n` has nominal time `base_time + n * 1000 /
//!   event_rate` ms (rounded down). Within each group of `out_of_order_group_size` consecutive indices the
//!   nominal times are permuted by a seed-derived affine permutation, so the
//!   stream is out of order by at most
//!   [`NexmarkGenerator::max_out_of_orderness_ms`].
//! * **Sizes.** `extra` pads each record so that the *average*
//!   [`size_in_bytes`](Bid::size_in_bytes) (string bytes plus 8 per integer
//!   field) is the configured average.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use super::model::{Auction, Bid, Event, EventKind, Person};

/// Id of the first person of the stream; person ids are dense from here.
pub const FIRST_PERSON_ID: u64 = 1000;
/// Id of the first auction of the stream; auction ids are dense from here.
pub const FIRST_AUCTION_ID: u64 = 1000;
/// Lowest auction category id; categories are
/// `FIRST_CATEGORY_ID .. FIRST_CATEGORY_ID + num_categories`.
pub const FIRST_CATEGORY_ID: u64 = 10;

/// Hot auctions / sellers / bidders are ids rounded down to a multiple of this.
const HOT_ID_GRANULARITY: u64 = 100;
/// Number of distinct non-hot bid channels.
const CHANNEL_POOL_SIZE: u64 = 10_000;
/// The hot bid channels.
const HOT_CHANNELS: [&str; 4] = ["Google", "Facebook", "Baidu", "Apple"];
/// Person first names.
const FIRST_NAMES: [&str; 11] =
    ["Peter", "Paul", "Luke", "John", "Saul", "Vicky", "Kate", "Julie", "Sarah", "Deiter", "Walter"];
/// Person last names.
const LAST_NAMES: [&str; 9] = ["Shultz", "Abrams", "Spencer", "White", "Bartels", "Walton", "Smith", "Jones", "Noris"];
/// Person cities.
const US_CITIES: [&str; 10] =
    ["Phoenix", "Los Angeles", "San Francisco", "Boise", "Portland", "Bend", "Redmond", "Seattle", "Kent", "Cheyenne"];
/// Person states.
const US_STATES: [&str; 6] = ["AZ", "CA", "ID", "OR", "WA", "WY"];

/// Length of the shared pool of random lowercase text that string fields are
/// cut from.
const TEXT_POOL_LEN: usize = 1 << 16;
/// log2 of the number of steps of the log-uniform price table.
const PRICE_TABLE_BITS: u32 = 10;
/// Lowest price, in cents.
const MIN_PRICE_CENTS: f64 = 100.0;
/// Prices span this many decades above [`MIN_PRICE_CENTS`].
const PRICE_DECADES: u32 = 6;
/// Seed of the shared, configuration-independent string and price tables.
const TABLES_SEED: u64 = 0x6e65_786d_6172_6b21;
/// How many distinct shuffle multipliers a generator draws per seed.
const SHUFFLE_MULTIPLIERS: usize = 16;

/// Configuration of the generator. Missing fields deserialize to their
/// [`Default`] values.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NexmarkConfig {
    /// Seed of all randomness; the stream is a pure function of the config.
    pub seed: u64,
    /// Event-time rate: events per second of *event time* (default 10_000,
    /// the Nexmark benchmark's `first_event_rate`). Values below 1 act as 1.
    pub event_rate: u64,
    /// Epoch millis of event 0 (default 2026-01-01T00:00:00Z); never the wall
    /// clock.
    pub base_time: i64,
    /// Events are shuffled in event time within groups of this many
    /// consecutive events (default 1_000), making the stream out of order.
    /// 0 or 1 gives an in-order stream.
    pub out_of_order_group_size: u64,
    /// Persons in each block of `person + auction + bid` proportion events
    /// (default 1). Must be at least 1.
    pub person_proportion: u64,
    /// Auctions in each block (default 3). Must be at least 1.
    pub auction_proportion: u64,
    /// Bids in each block (default 46).
    pub bid_proportion: u64,
    /// Sellers and non-hot bidders are drawn from this many most recent
    /// persons (default 1_000).
    pub num_active_people: u64,
    /// Non-hot bids go to one of this many most recent auctions (plus the
    /// latest); also sets the auction length (default 100).
    pub num_in_flight_auctions: u64,
    /// A bid is on the hot auction with probability `1 - 1/ratio`
    /// (default 2; 0 or 1 disables hot auctions).
    pub hot_auction_ratio: u64,
    /// An auction is sold by a hot seller with probability `1 - 1/ratio`
    /// (default 4; 0 or 1 disables hot sellers).
    pub hot_sellers_ratio: u64,
    /// A bid is by a hot bidder with probability `1 - 1/ratio`
    /// (default 4; 0 or 1 disables hot bidders).
    pub hot_bidders_ratio: u64,
    /// A bid comes through one of the 4 hot channels with probability
    /// `1 - 1/ratio`, else through one of 10_000 other channels
    /// (default 2; 0 or 1 disables hot channels).
    pub hot_channels_ratio: u64,
    /// Average person size in bytes (default 200).
    pub avg_person_byte_size: u64,
    /// Average auction size in bytes (default 500).
    pub avg_auction_byte_size: u64,
    /// Average bid size in bytes (default 100).
    pub avg_bid_byte_size: u64,
    /// Number of auction categories (default 5; 0 acts as 1).
    pub num_categories: u64,
}

impl Default for NexmarkConfig {
    fn default() -> Self {
        NexmarkConfig {
            seed: 0,
            event_rate: 10_000,
            base_time: 1_767_225_600_000,
            out_of_order_group_size: 1_000,
            person_proportion: 1,
            auction_proportion: 3,
            bid_proportion: 46,
            num_active_people: 1_000,
            num_in_flight_auctions: 100,
            hot_auction_ratio: 2,
            hot_sellers_ratio: 4,
            hot_bidders_ratio: 4,
            hot_channels_ratio: 2,
            avg_person_byte_size: 200,
            avg_auction_byte_size: 500,
            avg_bid_byte_size: 100,
            num_categories: 5,
        }
    }
}

/// SplitMix64 increment (2^64 / golden ratio, odd).
const GOLDEN_GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// The SplitMix64 output function: a bijective 64-bit mixer.
#[inline]
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A tiny SplitMix64 stream; one is started per event.
struct Rng {
    state: u64,
}

impl Rng {
    #[inline]
    fn new(state: u64) -> Self {
        Rng { state }
    }

    #[inline]
    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN_GAMMA);
        mix64(self.state)
    }

    /// Uniform in `0..n` (0 when `n == 0`), by multiply-shift.
    #[inline]
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Index into a slice of length `len`.
    #[inline]
    fn index(&mut self, len: usize) -> usize {
        self.below(len as u64) as usize
    }

    /// True with probability `1 - 1/ratio` (never when `ratio <= 1`): the
    /// Nexmark "hot" draw.
    #[inline]
    fn hot(&mut self, ratio: u64) -> bool {
        ratio > 1 && self.below(ratio) > 0
    }
}

/// Configuration-independent tables shared by all generators.
struct Tables {
    /// Random lowercase ASCII letters; string fields are windows of it.
    text: String,
    /// Price in cents at each of the `2^PRICE_TABLE_BITS + 1` log-uniform
    /// steps from 100 to 100 * 10^6.
    prices: Vec<f64>,
    /// URL of each hot channel.
    hot_urls: Vec<String>,
}

impl std::fmt::Debug for Tables {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tables").finish_non_exhaustive()
    }
}

/// `10^x` for `0 <= x <= PRICE_DECADES`, using only exactly-rounded IEEE
/// operations so the result is bit-identical on every platform.
fn deterministic_pow10(x: f64) -> f64 {
    let whole = x as u32; // x >= 0: truncation is floor
    let frac = x - f64::from(whole);
    let mut result = 1.0;
    for _ in 0..whole {
        result *= 10.0;
    }
    // exp(frac * ln 10) by its Taylor series; frac * ln 10 < 2.31, so 40
    // terms are far past convergence.
    let y = frac * std::f64::consts::LN_10;
    let mut term = 1.0;
    let mut sum = 1.0;
    for k in 1..40u32 {
        term = term * y / f64::from(k);
        sum += term;
    }
    result * sum
}

fn random_letters(rng: &mut Rng, len: usize) -> String {
    (0..len).map(|_| char::from(b'a' + rng.below(26) as u8)).collect()
}

impl Tables {
    fn build() -> Self {
        let mut rng = Rng::new(TABLES_SEED);
        let text = random_letters(&mut rng, TEXT_POOL_LEN);
        let steps = 1u32 << PRICE_TABLE_BITS;
        let prices = (0..=steps)
            .map(|j| {
                let x = f64::from(j * PRICE_DECADES) / f64::from(steps);
                MIN_PRICE_CENTS * deterministic_pow10(x)
            })
            .collect();
        let hot_urls = HOT_CHANNELS
            .iter()
            .map(|_| {
                format!(
                    "https://www.nexmark.com/{}/{}/item.htm?query=1",
                    random_letters(&mut rng, 5),
                    random_letters(&mut rng, 5)
                )
            })
            .collect();
        Tables { text, prices, hot_urls }
    }

    fn get() -> &'static Tables {
        static TABLES: OnceLock<Tables> = OnceLock::new();
        TABLES.get_or_init(Tables::build)
    }

    /// Appends `len` random letters to `out`.
    #[inline]
    fn push_text(&self, rng: &mut Rng, out: &mut String, len: usize) {
        let mut remaining = len;
        while remaining > 0 {
            let take = remaining.min(TEXT_POOL_LEN);
            let start = rng.index(TEXT_POOL_LEN - take + 1);
            out.push_str(&self.text[start..start + take]);
            remaining -= take;
        }
    }

    /// A price in cents, log-uniform in `[100, 10^8]` (the Nexmark price
    /// distribution `round(100 * 10^(6u))`, `u` uniform), by linear
    /// interpolation in a table of 4096 log-spaced steps.
    #[inline]
    fn price(&self, rng: &mut Rng) -> u64 {
        const FRAC_BITS: u32 = 64 - PRICE_TABLE_BITS;
        let r = rng.next_u64();
        let step = (r >> FRAC_BITS) as usize;
        let frac = (r & ((1u64 << FRAC_BITS) - 1)) as f64 / (1u64 << FRAC_BITS) as f64;
        let lo = self.prices[step];
        let hi = self.prices[step + 1];
        // Round half up (prices are positive); cheaper than `f64::round`.
        (lo + (hi - lo) * frac + 0.5) as u64
    }

    /// Writes channel `n` (`0 <= n < CHANNEL_POOL_SIZE`) and its URL
    /// (`https://www.nexmark.com/<5 letters>/item.htm?channel_id=<n>`, the
    /// letters fixed per channel) into `channel` and `url`.
    #[inline]
    fn write_channel(&self, n: u64, channel: &mut String, url: &mut String) {
        const CHANNEL_PREFIX: &[u8] = b"channel-";
        const URL_HOST: &[u8] = b"https://www.nexmark.com/";
        const URL_PATH: &[u8] = b"/item.htm?channel_id=";
        const LETTERS: usize = 5;
        const DIGITS_AT: usize = URL_HOST.len() + LETTERS + URL_PATH.len();
        // Assemble both strings on the stack with fixed-size copies, then
        // copy each into its `String` at once.
        let mut buf = [0u8; DIGITS_AT + 20];
        let digits = write_decimal(n, &mut buf[DIGITS_AT..]);
        let mut name = [0u8; CHANNEL_PREFIX.len() + 20];
        name[..CHANNEL_PREFIX.len()].copy_from_slice(CHANNEL_PREFIX);
        name[CHANNEL_PREFIX.len()..CHANNEL_PREFIX.len() + digits].copy_from_slice(&buf[DIGITS_AT..DIGITS_AT + digits]);
        push_ascii(channel, &name[..CHANNEL_PREFIX.len() + digits]);

        let letters = (n as usize * LETTERS) % (TEXT_POOL_LEN - LETTERS);
        buf[..URL_HOST.len()].copy_from_slice(URL_HOST);
        buf[URL_HOST.len()..URL_HOST.len() + LETTERS]
            .copy_from_slice(&self.text.as_bytes()[letters..letters + LETTERS]);
        buf[URL_HOST.len() + LETTERS..DIGITS_AT].copy_from_slice(URL_PATH);
        push_ascii(url, &buf[..DIGITS_AT + digits]);
    }
}

/// Replaces the contents of `s` with `bytes` (ASCII), allocating exactly
/// when it has to allocate.
#[inline]
fn push_ascii(s: &mut String, bytes: &[u8]) {
    reset(s, bytes.len());
    s.push_str(std::str::from_utf8(bytes).unwrap_or_default());
}

/// Empties `s` and makes room for `len` bytes (allocating exactly `len` when
/// it has to allocate).
#[inline]
fn reset(s: &mut String, len: usize) {
    s.clear();
    if s.capacity() < len {
        *s = String::with_capacity(len);
    }
}

/// Writes `n` in decimal at the start of `out` (at least 20 bytes long) and
/// returns the number of digits.
#[inline]
fn write_decimal(n: u64, out: &mut [u8]) -> usize {
    let mut len = 1;
    let mut rest = n / 10;
    while rest > 0 {
        len += 1;
        rest /= 10;
    }
    let mut rest = n;
    for slot in out[..len].iter_mut().rev() {
        *slot = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    len
}

/// Length of the `extra` padding of a record whose other fields take
/// `current` bytes: uniform within ±20% of the shortfall, so the average
/// size is exactly `target` whenever `current <= target`.
#[inline]
fn extra_len(rng: &mut Rng, current: usize, target: u64) -> usize {
    let target = usize::try_from(target).unwrap_or(usize::MAX);
    if current >= target {
        return 0;
    }
    let desired = target - current;
    let delta = (desired + 2) / 5;
    desired - delta + rng.index(2 * delta + 1)
}

/// Greatest common divisor.
fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// The deterministic Nexmark event generator. Cheap to clone (no heap data
/// of its own; the shared string tables are process-wide statics), `Send`
/// and `Sync`.
#[derive(Clone, Debug)]
pub struct NexmarkGenerator {
    config: NexmarkConfig,
    /// Seed mixed for per-event streams.
    event_key: u64,
    /// Seed mixed for per-group shuffles.
    shuffle_key: u64,
    /// `person + auction + bid` proportions.
    total_proportion: u64,
    /// `max(event_rate, 1)`.
    rate: u64,
    /// `out_of_order_group_size`, or 1 for an in-order stream.
    group_size: u64,
    /// Multipliers coprime to `group_size` for the per-group permutations.
    multipliers: [u64; SHUFFLE_MULTIPLIERS],
    /// Auctions expire `1 ..= expiry_span` ms after they open.
    expiry_span: u64,
    tables: &'static Tables,
}

/// Things about an index that several fields need.
#[derive(Clone, Copy)]
struct Position {
    /// `index / total_proportion`.
    epoch: u64,
    /// `index % total_proportion`.
    offset: u64,
}

impl NexmarkGenerator {
    /// Creates a generator for `config`.
    ///
    /// # Panics
    ///
    /// If `person_proportion` or `auction_proportion` is 0 (bids and auctions
    /// need persons and auctions to refer to).
    pub fn new(config: NexmarkConfig) -> Self {
        assert!(
            config.person_proportion >= 1 && config.auction_proportion >= 1,
            "NexmarkConfig: person_proportion and auction_proportion must be at least 1"
        );
        let total_proportion =
            config.person_proportion.saturating_add(config.auction_proportion).saturating_add(config.bid_proportion);
        let rate = config.event_rate.max(1);
        let group_size = config.out_of_order_group_size.max(1);
        let event_key = mix64(config.seed ^ 0x243f_6a88_85a3_08d3);
        let shuffle_key = mix64(config.seed ^ 0x1319_8a2e_0370_7344);

        let mut multipliers = [1u64; SHUFFLE_MULTIPLIERS];
        if group_size > 1 {
            let mut rng = Rng::new(mix64(shuffle_key ^ 0xa409_3822_299f_31d0));
            for m in &mut multipliers {
                *m = loop {
                    let candidate = rng.below(group_size);
                    if candidate != 0 && gcd(candidate, group_size) == 1 {
                        break candidate;
                    }
                };
            }
        }

        // The spec's auction length: about twice the event time it takes for
        // `num_in_flight_auctions` new auctions to open.
        let events_per_flight = u128::from(config.num_in_flight_auctions) * u128::from(total_proportion)
            / u128::from(config.auction_proportion);
        let flight_ms = events_per_flight * 1000 / u128::from(rate);
        let expiry_span = u64::try_from(flight_ms.saturating_mul(2)).unwrap_or(u64::MAX / 2).max(1);

        NexmarkGenerator {
            config,
            event_key,
            shuffle_key,
            total_proportion,
            rate,
            group_size,
            multipliers,
            expiry_span,
            tables: Tables::get(),
        }
    }

    /// The configuration this generator was built from.
    pub fn config(&self) -> &NexmarkConfig {
        &self.config
    }

    /// The event with this global sequence number: a pure function of
    /// `(config, index)`.
    pub fn event(&self, index: u64) -> Event {
        let pos = self.position(index);
        let mut rng = self.rng(index);
        let date_time = self.date_time_of(index);
        match self.kind_at(pos) {
            EventKind::Person => {
                let mut p = empty_person();
                self.fill_person(&mut rng, pos, date_time, &mut p);
                Event::Person(p)
            }
            EventKind::Auction => {
                let mut a = empty_auction();
                self.fill_auction(&mut rng, pos, date_time, &mut a);
                Event::Auction(a)
            }
            EventKind::Bid => {
                let mut b = empty_bid();
                self.fill_bid(&mut rng, pos, date_time, &mut b);
                Event::Bid(b)
            }
        }
    }

    /// Same as [`event`](Self::event), but writes into `out`, reusing its
    /// string buffers when `out` already holds an event of the same kind
    /// (saves the allocations when a caller consumes events one at a time).
    pub fn event_into(&self, index: u64, out: &mut Event) {
        let pos = self.position(index);
        let mut rng = self.rng(index);
        let date_time = self.date_time_of(index);
        match (self.kind_at(pos), out) {
            (EventKind::Person, Event::Person(p)) => {
                self.fill_person(&mut rng, pos, date_time, p);
            }
            (EventKind::Auction, Event::Auction(a)) => {
                self.fill_auction(&mut rng, pos, date_time, a);
            }
            (EventKind::Bid, Event::Bid(b)) => self.fill_bid(&mut rng, pos, date_time, b),
            (_, out) => *out = self.event(index),
        }
    }

    /// The kind of the event with this index, without generating it.
    pub fn kind_of(&self, index: u64) -> EventKind {
        self.kind_at(self.position(index))
    }

    /// The event time (`date_time`) of the event with this index, without
    /// generating it.
    pub fn date_time_of(&self, index: u64) -> i64 {
        let g = self.group_size;
        if g <= 1 {
            return self.nominal_time(index);
        }
        let group = index / g;
        let within = index - group * g;
        let h = mix64(self.shuffle_key ^ group);
        let a = self.multipliers[(h as usize) % SHUFFLE_MULTIPLIERS];
        let b = ((u128::from(h) * u128::from(g)) >> 64) as u64;
        let slot = if g <= u64::from(u32::MAX) {
            (a * within + b) % g
        } else {
            ((u128::from(a) * u128::from(within) + u128::from(b)) % u128::from(g)) as u64
        };
        self.nominal_time(group * g + slot)
    }

    /// The largest amount by which an event's `date_time` can precede the
    /// `date_time` of an earlier-indexed event (so a bounded-out-of-orderness
    /// watermark of this many ms produces no late events). It is the event
    /// time spanned by one shuffle group: `ceil((group_size - 1) * 1000 /
    /// event_rate)`, 0 for an in-order stream.
    pub fn max_out_of_orderness_ms(&self) -> i64 {
        let span = u128::from(self.group_size - 1) * 1000;
        let rate = u128::from(self.rate);
        i64::try_from(span.div_ceil(rate)).unwrap_or(i64::MAX)
    }

    /// Event time of position `n` before shuffling: `base_time + n * 1000 /
    /// rate` (rounded down), without overflowing the intermediate product.
    #[inline]
    fn nominal_time(&self, n: u64) -> i64 {
        let rate = self.rate;
        let ms = match n.checked_mul(1000) {
            Some(scaled) => scaled / rate,
            None => (n / rate).wrapping_mul(1000) + (n % rate) * 1000 / rate,
        };
        self.config.base_time.wrapping_add(ms as i64)
    }

    #[inline]
    fn position(&self, index: u64) -> Position {
        Position { epoch: index / self.total_proportion, offset: index % self.total_proportion }
    }

    #[inline]
    fn kind_at(&self, pos: Position) -> EventKind {
        if pos.offset < self.config.person_proportion {
            EventKind::Person
        } else if pos.offset < self.config.person_proportion + self.config.auction_proportion {
            EventKind::Auction
        } else {
            EventKind::Bid
        }
    }

    #[inline]
    fn rng(&self, index: u64) -> Rng {
        Rng::new(mix64(self.event_key ^ index.wrapping_mul(GOLDEN_GAMMA)))
    }

    /// 0-based number of the latest person at a position past the block's
    /// persons (auctions and bids).
    #[inline]
    fn last_person(&self, pos: Position) -> u64 {
        let p = self.config.person_proportion;
        pos.epoch * p + p - 1
    }

    /// 0-based number of the latest auction at a bid's position.
    #[inline]
    fn last_auction(&self, pos: Position) -> u64 {
        let a = self.config.auction_proportion;
        pos.epoch * a + a - 1
    }

    /// A person among the `num_active_people` most recent ones (0-based).
    #[inline]
    fn active_person(&self, rng: &mut Rng, last_person: u64) -> u64 {
        let people = last_person + 1;
        let active = people.min(self.config.num_active_people.max(1));
        people - active + rng.below(active)
    }

    fn fill_person(&self, rng: &mut Rng, pos: Position, date_time: i64, p: &mut Person) {
        let t = self.tables;
        p.id = FIRST_PERSON_ID + pos.epoch * self.config.person_proportion + pos.offset;
        p.date_time = date_time;

        let first = FIRST_NAMES[rng.index(FIRST_NAMES.len())];
        let last = LAST_NAMES[rng.index(LAST_NAMES.len())];
        reset(&mut p.name, first.len() + 1 + last.len());
        p.name.push_str(first);
        p.name.push(' ');
        p.name.push_str(last);

        reset(&mut p.email_address, 7 + 1 + 5 + 4);
        t.push_text(rng, &mut p.email_address, 7);
        p.email_address.push('@');
        t.push_text(rng, &mut p.email_address, 5);
        p.email_address.push_str(".com");

        reset(&mut p.credit_card, 19);
        let mut card = [b' '; 19];
        for group in card.chunks_mut(5) {
            let v = rng.below(10_000);
            group[0] = b'0' + (v / 1000) as u8;
            group[1] = b'0' + (v / 100 % 10) as u8;
            group[2] = b'0' + (v / 10 % 10) as u8;
            group[3] = b'0' + (v % 10) as u8;
        }
        p.credit_card.push_str(std::str::from_utf8(&card).unwrap_or_default());

        let city = US_CITIES[rng.index(US_CITIES.len())];
        reset(&mut p.city, city.len());
        p.city.push_str(city);
        let state = US_STATES[rng.index(US_STATES.len())];
        reset(&mut p.state, state.len());
        p.state.push_str(state);

        p.extra.clear();
        let current = p.size_in_bytes();
        let len = extra_len(rng, current, self.config.avg_person_byte_size);
        reset(&mut p.extra, len);
        t.push_text(rng, &mut p.extra, len);
    }

    fn fill_auction(&self, rng: &mut Rng, pos: Position, date_time: i64, a: &mut Auction) {
        let t = self.tables;
        let cfg = &self.config;
        a.id = FIRST_AUCTION_ID + pos.epoch * cfg.auction_proportion + (pos.offset - cfg.person_proportion);
        reset(&mut a.item_name, 20);
        t.push_text(rng, &mut a.item_name, 20);
        reset(&mut a.description, 100);
        t.push_text(rng, &mut a.description, 100);
        a.initial_bid = t.price(rng);
        a.reserve = a.initial_bid + t.price(rng);
        a.date_time = date_time;
        a.expires = date_time.wrapping_add((1 + rng.below(self.expiry_span)) as i64);

        let last_person = self.last_person(pos);
        let seller = if rng.hot(cfg.hot_sellers_ratio) {
            last_person / HOT_ID_GRANULARITY * HOT_ID_GRANULARITY
        } else {
            self.active_person(rng, last_person)
        };
        a.seller = FIRST_PERSON_ID + seller;
        a.category = FIRST_CATEGORY_ID + rng.below(cfg.num_categories.max(1));

        a.extra.clear();
        let current = a.size_in_bytes();
        let len = extra_len(rng, current, cfg.avg_auction_byte_size);
        reset(&mut a.extra, len);
        t.push_text(rng, &mut a.extra, len);
    }

    fn fill_bid(&self, rng: &mut Rng, pos: Position, date_time: i64, b: &mut Bid) {
        let t = self.tables;
        let cfg = &self.config;

        let last_auction = self.last_auction(pos);
        let auction = if rng.hot(cfg.hot_auction_ratio) {
            last_auction / HOT_ID_GRANULARITY * HOT_ID_GRANULARITY
        } else {
            let first = last_auction.saturating_sub(cfg.num_in_flight_auctions);
            first + rng.below(last_auction - first + 1)
        };
        b.auction = FIRST_AUCTION_ID + auction;

        let last_person = self.last_person(pos);
        let bidder = if rng.hot(cfg.hot_bidders_ratio) {
            // Offset by one so hot bidders differ from hot sellers.
            (last_person / HOT_ID_GRANULARITY * HOT_ID_GRANULARITY + 1).min(last_person)
        } else {
            self.active_person(rng, last_person)
        };
        b.bidder = FIRST_PERSON_ID + bidder;

        b.price = t.price(rng);
        b.date_time = date_time;

        if rng.hot(cfg.hot_channels_ratio) {
            let i = rng.index(HOT_CHANNELS.len());
            let (channel, url) = (HOT_CHANNELS[i], t.hot_urls[i].as_str());
            reset(&mut b.channel, channel.len());
            b.channel.push_str(channel);
            reset(&mut b.url, url.len());
            b.url.push_str(url);
        } else {
            t.write_channel(rng.below(CHANNEL_POOL_SIZE), &mut b.channel, &mut b.url);
        }

        b.extra.clear();
        let current = b.size_in_bytes();
        let len = extra_len(rng, current, cfg.avg_bid_byte_size);
        reset(&mut b.extra, len);
        t.push_text(rng, &mut b.extra, len);
    }
}

fn empty_person() -> Person {
    Person {
        id: 0,
        name: String::new(),
        email_address: String::new(),
        credit_card: String::new(),
        city: String::new(),
        state: String::new(),
        date_time: 0,
        extra: String::new(),
    }
}

fn empty_auction() -> Auction {
    Auction {
        id: 0,
        item_name: String::new(),
        description: String::new(),
        initial_bid: 0,
        reserve: 0,
        date_time: 0,
        expires: 0,
        seller: 0,
        category: 0,
        extra: String::new(),
    }
}

fn empty_bid() -> Bid {
    Bid {
        auction: 0,
        bidder: 0,
        price: 0,
        channel: String::new(),
        url: String::new(),
        date_time: 0,
        extra: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{HashMap, HashSet};

    fn generator() -> NexmarkGenerator {
        NexmarkGenerator::new(NexmarkConfig::default())
    }

    fn events(g: &NexmarkGenerator, n: u64) -> Vec<Event> {
        (0..n).map(|i| g.event(i)).collect()
    }

    #[test]
    fn same_index_gives_same_event() {
        let a = generator();
        let b = NexmarkGenerator::new(NexmarkConfig::default());
        for i in 0..20_000 {
            assert_eq!(a.event(i), b.event(i), "index {i}");
        }
        // Random access order does not matter either.
        for i in [123_456_789u64, 7, 1 << 40, 49, 50, 0] {
            assert_eq!(a.event(i), b.clone().event(i));
        }
    }

    #[test]
    fn seed_changes_the_stream() {
        let a = generator();
        let b = NexmarkGenerator::new(NexmarkConfig { seed: 1, ..NexmarkConfig::default() });
        let differing = (0..1_000).filter(|&i| a.event(i) != b.event(i)).count();
        assert!(differing > 990, "only {differing} events differ");
    }

    /// Folds every field of an event into `h`.
    fn fold(h: u64, e: &Event) -> u64 {
        let mut h = h;
        let mut int = |v: u64| h = mix64(h ^ v);
        match e {
            Event::Person(p) => {
                int(p.id);
                int(p.date_time as u64);
                for s in [&p.name, &p.email_address, &p.credit_card, &p.city, &p.state, &p.extra] {
                    s.bytes().for_each(|b| int(u64::from(b)));
                }
            }
            Event::Auction(a) => {
                for v in [a.id, a.initial_bid, a.reserve, a.seller, a.category] {
                    int(v);
                }
                int(a.date_time as u64);
                int(a.expires as u64);
                for s in [&a.item_name, &a.description, &a.extra] {
                    s.bytes().for_each(|b| int(u64::from(b)));
                }
            }
            Event::Bid(b) => {
                for v in [b.auction, b.bidder, b.price] {
                    int(v);
                }
                int(b.date_time as u64);
                for s in [&b.channel, &b.url, &b.extra] {
                    s.bytes().for_each(|b| int(u64::from(b)));
                }
            }
        }
        h
    }

    #[test]
    fn pinned_values_never_change() {
        // Guards against accidental changes of the stream: the output must be
        // identical on every platform and toolchain. Update PINNED_HASH only
        // for a deliberate change of the generator.
        let g = generator();
        let h = (0..5_000).fold(0, |h, i| fold(h, &g.event(i)));
        assert_eq!(h, PINNED_HASH, "stream changed: {h:#x}");
        let e = g.event(12_345);
        assert_eq!(
            e,
            Event::Bid(Bid {
                auction: 1715,
                bidder: 1201,
                price: 548_564,
                channel: "channel-4194".into(),
                url: "https://www.nexmark.com/pissv/item.htm?channel_id=4194".into(),
                date_time: 1_767_225_601_212,
                extra: "ws".into(),
            })
        );
    }
    const PINNED_HASH: u64 = 0x8c2f_a4ed_4c54_95df;

    #[test]
    fn mix_is_exactly_2_6_92_percent() {
        let g = generator();
        let mut counts = HashMap::new();
        for i in 0..50_000 {
            let e = g.event(i);
            assert_eq!(e.kind(), g.kind_of(i));
            *counts.entry(e.kind()).or_insert(0u64) += 1;
        }
        assert_eq!(counts[&EventKind::Person], 1_000);
        assert_eq!(counts[&EventKind::Auction], 3_000);
        assert_eq!(counts[&EventKind::Bid], 46_000);
        // First of each 50 a person, next 3 auctions, rest bids.
        for i in 0..50 {
            let expected = match i {
                0 => EventKind::Person,
                1..=3 => EventKind::Auction,
                _ => EventKind::Bid,
            };
            assert_eq!(g.kind_of(1_000 * 50 + i), expected);
        }
    }

    #[test]
    fn person_and_auction_ids_are_dense_and_increasing() {
        let g = generator();
        let mut next_person = FIRST_PERSON_ID;
        let mut next_auction = FIRST_AUCTION_ID;
        for e in events(&g, 100_000) {
            match e {
                Event::Person(p) => {
                    assert_eq!(p.id, next_person);
                    next_person += 1;
                }
                Event::Auction(a) => {
                    assert_eq!(a.id, next_auction);
                    next_auction += 1;
                }
                Event::Bid(_) => {}
            }
        }
        assert_eq!(next_person - FIRST_PERSON_ID, 2_000);
        assert_eq!(next_auction - FIRST_AUCTION_ID, 6_000);
    }

    #[test]
    fn references_point_to_existing_records() {
        let g = generator();
        let mut last_person = None;
        let mut last_auction = None;
        let mut bids_per_auction: HashMap<u64, u64> = HashMap::new();
        let mut hot_bidder_bids = 0u64;
        let mut bids = 0u64;
        for e in events(&g, 200_000) {
            match e {
                Event::Person(p) => last_person = Some(p.id),
                Event::Auction(a) => {
                    let lp = last_person.expect("a person precedes every auction");
                    assert!((FIRST_PERSON_ID..=lp).contains(&a.seller));
                    assert!(a.expires > a.date_time);
                    assert!(a.reserve >= a.initial_bid);
                    assert!((FIRST_CATEGORY_ID..FIRST_CATEGORY_ID + 5).contains(&a.category));
                    last_auction = Some(a.id);
                }
                Event::Bid(b) => {
                    let la = last_auction.expect("an auction precedes every bid");
                    let lp = last_person.expect("a person precedes every bid");
                    assert!((FIRST_AUCTION_ID..=la).contains(&b.auction));
                    // Mostly recent: in flight or the hot auction.
                    assert!(la - b.auction <= 100 + HOT_ID_GRANULARITY);
                    assert!((FIRST_PERSON_ID..=lp).contains(&b.bidder));
                    assert!((100..=100_000_000).contains(&b.price));
                    *bids_per_auction.entry(b.auction).or_default() += 1;
                    bids += 1;
                    if (b.bidder - FIRST_PERSON_ID) % HOT_ID_GRANULARITY == 1 {
                        hot_bidder_bids += 1;
                    }
                }
            }
        }
        // Hot-auction skew: the busiest auction gets far more than a fair share.
        let busiest = bids_per_auction.values().copied().max().unwrap();
        assert!(busiest as f64 > 10.0 * bids as f64 / bids_per_auction.len() as f64);
        // Hot-bidder skew: about 3/4 of the bids.
        let share = hot_bidder_bids as f64 / bids as f64;
        assert!((0.70..0.80).contains(&share), "hot bidder share {share}");
    }

    #[test]
    fn average_sizes_match_the_configuration() {
        let g = generator();
        let mut sums: HashMap<EventKind, (usize, usize)> = HashMap::new();
        for e in events(&g, 100_000) {
            let s = sums.entry(e.kind()).or_default();
            s.0 += e.size_in_bytes();
            s.1 += 1;
        }
        let avg = |k| {
            let (sum, n) = sums[&k];
            sum as f64 / n as f64
        };
        let bid = avg(EventKind::Bid);
        assert!((90.0..=110.0).contains(&bid), "bid {bid}");
        let person = avg(EventKind::Person);
        assert!((180.0..=220.0).contains(&person), "person {person}");
        let auction = avg(EventKind::Auction);
        assert!((450.0..=550.0).contains(&auction), "auction {auction}");
    }

    #[test]
    fn channels_come_from_a_small_fixed_set() {
        let g = generator();
        let mut channels = HashSet::new();
        let mut hot = 0;
        let mut bids = 0;
        for e in events(&g, 50_000) {
            if let Event::Bid(b) = e {
                bids += 1;
                if HOT_CHANNELS.contains(&b.channel.as_str()) {
                    hot += 1;
                } else {
                    assert!(b.url.ends_with(&b.channel["channel-".len()..]));
                }
                assert!(b.url.starts_with("https://www.nexmark.com/"));
                channels.insert(b.channel);
            }
        }
        assert!(channels.len() <= HOT_CHANNELS.len() + CHANNEL_POOL_SIZE as usize);
        let share = f64::from(hot) / f64::from(bids);
        assert!((0.45..0.55).contains(&share), "hot channel share {share}");
    }

    #[test]
    fn out_of_order_but_bounded() {
        let g = generator();
        let bound = g.max_out_of_orderness_ms();
        assert_eq!(bound, 100);
        let mut max_seen = i64::MIN;
        let mut max_lateness = 0;
        let mut late_events = 0;
        for i in 0..200_000u64 {
            let t = g.event(i).date_time();
            assert_eq!(t, g.date_time_of(i));
            if t < max_seen {
                late_events += 1;
                max_lateness = max_lateness.max(max_seen - t);
            }
            max_seen = max_seen.max(t);
        }
        assert!(late_events > 1_000, "only {late_events} out-of-order events");
        assert!(max_lateness > bound / 2, "lateness {max_lateness}");
        assert!(max_lateness <= bound, "lateness {max_lateness} > {bound}");
    }

    #[test]
    fn timestamps_are_a_permutation_of_the_nominal_times() {
        let g = generator();
        let base = g.config().base_time;
        // Each group of 1000 events carries exactly the nominal times of its
        // positions: the stream advances at event_rate on average.
        for group in [0u64, 1, 57] {
            let mut times: Vec<i64> = (group * 1000..(group + 1) * 1000).map(|i| g.date_time_of(i)).collect();
            times.sort_unstable();
            let expected: Vec<i64> = (group * 1000..(group + 1) * 1000).map(|n| base + (n / 10) as i64).collect();
            assert_eq!(times, expected);
        }
        assert!((g.date_time_of(10_000_000) - base - 1_000_000).abs() <= 100);
    }

    #[test]
    fn in_order_when_group_size_is_one() {
        let g = NexmarkGenerator::new(NexmarkConfig {
            out_of_order_group_size: 1,
            event_rate: 3,
            ..NexmarkConfig::default()
        });
        assert_eq!(g.max_out_of_orderness_ms(), 0);
        let times: Vec<i64> = (0..100).map(|i| g.date_time_of(i)).collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(times[3] - times[0], 1000);
    }

    #[test]
    fn event_into_matches_event() {
        let g = generator();
        let mut scratch = g.event(0);
        for i in (0..5_000).chain([1 << 33, 17, 3]) {
            g.event_into(i, &mut scratch);
            assert_eq!(scratch, g.event(i));
        }
    }

    #[test]
    fn generator_is_send_sync_and_cheap_to_clone() {
        fn assert_send_sync<T: Send + Sync + Clone>() {}
        assert_send_sync::<NexmarkGenerator>();
    }

    #[test]
    fn price_table_is_log_uniform() {
        let t = Tables::get();
        assert_eq!(t.prices[0], 100.0);
        assert_eq!(t.prices[t.prices.len() - 1].round(), 100_000_000.0);
        // Half the prices (in log space) are below 100 * 10^3.
        let mut rng = Rng::new(99);
        let below = (0..100_000).filter(|_| t.price(&mut rng) < 100_000).count();
        assert!((48_000..52_000).contains(&below), "{below}");
    }
}
