//! Sources and sinks.
//!
//! Sources: [`collection`] (in-memory elements), [`generator`] (deterministic, seeded, bounded or
//! unbounded, optionally rate-limited), [`nexmark`] (the Nexmark auction benchmark's events),
//! [`text_file`] (a file or directory, bounded), [`socket`] (lines from a TCP socket).
//! Sinks: [`print`](mod@print), [`file`](mod@file) (rolling part files), [`discard`], [`collect`] (in memory),
//! [`checksum`] (an order-independent digest of everything written).

pub mod checksum;
pub mod collect;
pub mod collection;
pub mod discard;
pub mod file;
pub mod generator;
pub mod nexmark;
pub mod print;
pub mod socket;
pub mod text_file;
