//! The data plane between TaskManagers: the channels of a job's edges whose producer and consumer
//! subtasks run in different TaskManagers travel over TCP, carrying the same batches and control
//! events (watermarks, idleness, barriers, end of input) as the channels inside a process.
//!
//! One connection per (attempt, producing TaskManager, consuming TaskManager) multiplexes all the
//! channels between them ([`frame`] has the wire format). Flow control is credit-based: the
//! receiver grants each channel as many credits as its input buffer holds elements, and one more
//! each time its task takes an element out; the sender sends an element only against a credit, so
//! the receiver's buffers never overflow, one slow channel never blocks the others on the same
//! connection, and back-pressure reaches the producing task (whose local buffer towards the
//! connection fills) exactly as it does between tasks of one process.
//!
//! A connection that cannot be established (within a few seconds of retries) or that breaks fails
//! the attempt, which restarts from the latest checkpoint.

pub mod frame;
pub mod inbound;
pub mod outbound;

use crossbeam_channel::Sender;
use std::sync::{Arc, Mutex};

/// One logical channel of an attempt: stream edge `edge`, from producer subtask `from` to consumer
/// subtask `to`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ChannelKey {
    /// The job.
    pub job_id: String,
    /// Its attempt.
    pub attempt: u64,
    /// Stream edge index.
    pub edge: u32,
    /// Producer subtask.
    pub from: u32,
    /// Consumer subtask.
    pub to: u32,
}

/// Returns the elements a task takes from a remote channel to its sender, as credits.
#[derive(Clone, Default)]
pub struct CreditReturn(Arc<Mutex<Option<CreditLink>>>);

/// A channel's number on its connection and where its credits go.
type CreditLink = (u32, Sender<(u32, u32)>);

impl CreditReturn {
    /// One element was taken.
    pub fn give(&self) {
        if let Some((channel, tx)) = self.0.lock().expect("credit lock").as_ref() {
            // A closed connection takes no more credit; its attempt is failing anyway.
            let _ = tx.send((*channel, 1));
        }
    }

    /// The channel's connection: credits go to `tx` as channel number `channel`.
    fn connect(&self, channel: u32, tx: Sender<(u32, u32)>) {
        *self.0.lock().expect("credit lock") = Some((channel, tx));
    }
}

impl std::fmt::Debug for CreditReturn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CreditReturn")
    }
}
