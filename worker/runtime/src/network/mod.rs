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
//! A connection that breaks is established again: the sender keeps each element it sent until the
//! receiver reports having received it (every CREDIT frame carries the channel's received count),
//! reconnects within [`RECONNECT_WITHIN`], and the receiver, which kept the channel, answers the
//! re-OPEN with its received count and free space; the sender resends from there, so every element
//! arrives exactly once and in order. A connection that cannot be established within that time
//! fails the attempt, which restarts from the latest checkpoint.

pub mod frame;
pub mod inbound;
pub mod outbound;

use crossbeam_channel::Sender;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a broken data connection may take to be established again before the attempt fails
/// (the receiver keeps the channels that long).
pub const RECONNECT_WITHIN: Duration = Duration::from_secs(10);

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
pub struct CreditReturn(Arc<Mutex<ChannelAccount>>);

/// A credit for the sender: channel number, credits, the channel's received count, and whether
/// the credits replace the sender's (the grant of an OPEN) rather than add to them.
type Credit = (u32, u32, u64, bool);

/// A remote input channel's account, across the connections that deliver it.
#[derive(Default)]
struct ChannelAccount {
    /// Elements delivered into the channel's buffer.
    received: u64,
    /// Elements its task took (credits given back).
    taken: u64,
    /// The connection that may deliver now.
    owner: u64,
    /// Its number on that connection and where credits go.
    link: Option<(u32, Sender<Credit>)>,
}

impl CreditReturn {
    /// One element was taken.
    pub fn give(&self) {
        let mut account = self.0.lock().expect("credit lock");
        account.taken += 1;
        if let Some((channel, tx)) = &account.link {
            // A broken connection takes no credit; the next one is granted the free space.
            let _ = tx.send((*channel, 1, account.received, false));
        }
    }

    /// Makes connection `owner` the channel's deliverer under channel number `channel`: its
    /// credits go to `tx`, starting with a grant of the free space of the channel's `capacity`.
    fn connect(&self, owner: u64, channel: u32, capacity: u32, tx: Sender<Credit>) {
        let mut account = self.0.lock().expect("credit lock");
        let buffered = account.received - account.taken;
        let _ = tx.send((channel, capacity.saturating_sub(buffered as u32), account.received, true));
        account.owner = owner;
        account.link = Some((channel, tx));
    }

    /// Whether connection `owner` delivers the channel now.
    fn owned_by(&self, owner: u64) -> bool {
        self.0.lock().expect("credit lock").owner == owner
    }

    /// Delivers `element` from connection `owner` through `deliver` (which answers whether the
    /// buffer took it); `None` when another connection owns the channel now.
    fn deliver<T>(&self, owner: u64, deliver: impl FnOnce() -> (bool, T)) -> Option<T> {
        let mut account = self.0.lock().expect("credit lock");
        if account.owner != owner {
            return None;
        }
        let (taken, result) = deliver();
        if taken {
            account.received += 1;
        }
        Some(result)
    }
}

impl std::fmt::Debug for CreditReturn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CreditReturn")
    }
}
