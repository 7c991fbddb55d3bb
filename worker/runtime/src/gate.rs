//! The input gate of a task: all channels of all its input edges. It merges them, keeps a
//! watermark per channel and emits the combined watermark (the minimum over active channels; an
//! ended channel counts as the maximum, an idle one is left out), aligns checkpoint barriers by
//! blocking channels that already delivered theirs, and reports end of input when every channel ended.

use crossbeam_channel::{Receiver, Select, TryRecvError};
use ferroflink_core::element::{AnyBatch, CheckpointBarrier, Element};
use ferroflink_core::record::{NO_TIMESTAMP, Timestamp};
use std::collections::VecDeque;
use std::time::Instant;

/// One input channel of a task: its receiving end, the operator input it feeds, and for a channel
/// from another TaskManager, where consumed elements are returned as credit.
pub struct InputChannel {
    /// The receiving end.
    pub rx: Receiver<Element>,
    /// Operator input (0, or 1 for the second input of `connect`).
    pub input: usize,
    /// Credit for the sender, one per element taken (remote channels only).
    pub credit: Option<crate::network::CreditReturn>,
}

struct Channel {
    rx: Receiver<Element>,
    input: usize,
    credit: Option<crate::network::CreditReturn>,
    watermark: Timestamp,
    idle: bool,
    ended: bool,
    blocked: bool,
}

/// What the gate hands the task.
#[derive(Debug)]
pub enum GateEvent {
    /// Records for operator input `0` or `1`.
    Batch(usize, AnyBatch),
    /// The combined watermark advanced.
    Watermark(Timestamp),
    /// All channels became idle (`true`) or one became active again (`false`).
    Idle(bool),
    /// Every channel delivered this barrier: snapshot, then forward it.
    Barrier(CheckpointBarrier),
    /// Every channel ended.
    EndOfInput,
    /// Nothing arrived before the deadline.
    Timeout,
    /// An upstream task went away without ending its channel: it failed or the job was cancelled.
    UpstreamLost,
}

/// See the module documentation.
pub struct InputGate {
    channels: Vec<Channel>,
    watermark: Timestamp,
    idle: bool,
    pending_barrier: Option<CheckpointBarrier>,
    pending: VecDeque<GateEvent>,
    next_poll: usize,
}

impl InputGate {
    /// A gate over `(receiver, operator input index)` pairs.
    pub fn new(channels: Vec<(Receiver<Element>, usize)>) -> Self {
        Self::with_channels(channels.into_iter().map(|(rx, input)| InputChannel { rx, input, credit: None }).collect())
    }

    /// A gate over `channels`.
    pub fn with_channels(channels: Vec<InputChannel>) -> Self {
        InputGate {
            channels: channels
                .into_iter()
                .map(|c| Channel {
                    rx: c.rx,
                    input: c.input,
                    credit: c.credit,
                    watermark: NO_TIMESTAMP,
                    idle: false,
                    ended: false,
                    blocked: false,
                })
                .collect(),
            watermark: NO_TIMESTAMP,
            idle: false,
            pending_barrier: None,
            pending: VecDeque::new(),
            next_poll: 0,
        }
    }

    /// The next event without blocking, or `None` if no channel has anything.
    pub fn try_next(&mut self) -> Option<GateEvent> {
        loop {
            if let Some(ev) = self.pending.pop_front() {
                return Some(ev);
            }
            let n = self.channels.len();
            let ready = (0..n).map(|k| (self.next_poll + k) % n).find_map(|i| {
                let ch = &self.channels[i];
                if ch.ended || ch.blocked {
                    return None;
                }
                match ch.rx.try_recv() {
                    Ok(e) => {
                        if let Some(c) = &ch.credit {
                            c.give();
                        }
                        Some((i, Some(e)))
                    }
                    Err(TryRecvError::Disconnected) => Some((i, None)),
                    Err(TryRecvError::Empty) => None,
                }
            });
            match ready {
                Some((_, None)) => return Some(GateEvent::UpstreamLost),
                Some((i, Some(element))) => {
                    self.next_poll = (i + 1) % n;
                    self.handle(i, element);
                }
                None if self.channels.iter().all(|c| c.ended) => return Some(GateEvent::EndOfInput),
                None => return None,
            }
        }
    }

    /// The next event, blocking until `deadline` at most.
    pub fn next(&mut self, deadline: Instant) -> GateEvent {
        loop {
            if let Some(ev) = self.try_next() {
                return ev;
            }
            let mut select = Select::new();
            let mut open = 0;
            for ch in self.channels.iter().filter(|c| !c.ended && !c.blocked) {
                select.recv(&ch.rx);
                open += 1;
            }
            if open == 0 || select.ready_deadline(deadline).is_err() {
                return GateEvent::Timeout;
            }
        }
    }

    fn handle(&mut self, i: usize, element: Element) {
        match element {
            Element::Batch(b) => self.pending.push_back(GateEvent::Batch(self.channels[i].input, b)),
            Element::Watermark(w) => {
                if self.channels[i].idle {
                    self.channels[i].idle = false;
                    self.update_idle();
                }
                let ch = &mut self.channels[i];
                ch.watermark = ch.watermark.max(w);
                self.advance();
            }
            Element::Idle(idle) => {
                self.channels[i].idle = idle;
                self.update_idle();
                self.advance();
            }
            Element::Barrier(b) => self.on_barrier(i, b),
            Element::EndOfInput => {
                self.channels[i].ended = true;
                self.channels[i].blocked = false;
                if self.channels.iter().all(|c| c.ended) {
                    self.advance();
                    self.pending.push_back(GateEvent::EndOfInput);
                } else {
                    self.check_aligned();
                    self.advance();
                }
            }
        }
    }

    fn on_barrier(&mut self, i: usize, barrier: CheckpointBarrier) {
        match self.pending_barrier {
            Some(p) if barrier.id < p.id => return,
            Some(p) if barrier.id > p.id => {
                // A newer checkpoint overtook an unfinished one: abandon the old alignment.
                for c in &mut self.channels {
                    c.blocked = false;
                }
                self.pending_barrier = Some(barrier);
            }
            Some(_) => {}
            None => self.pending_barrier = Some(barrier),
        }
        self.channels[i].blocked = true;
        self.check_aligned();
    }

    fn check_aligned(&mut self) {
        let Some(barrier) = self.pending_barrier else { return };
        if self.channels.iter().all(|c| c.blocked || c.ended) {
            for c in &mut self.channels {
                c.blocked = false;
            }
            self.pending_barrier = None;
            self.pending.push_back(GateEvent::Barrier(barrier));
        }
    }

    fn update_idle(&mut self) {
        let all_idle = self.channels.iter().filter(|c| !c.ended).all(|c| c.idle);
        if all_idle != self.idle {
            self.idle = all_idle;
            self.pending.push_back(GateEvent::Idle(all_idle));
        }
    }

    fn advance(&mut self) {
        let min = self
            .channels
            .iter()
            .filter(|c| !c.idle || c.ended)
            .map(|c| if c.ended { Timestamp::MAX } else { c.watermark })
            .min();
        if let Some(min) = min.filter(|&m| m > self.watermark && m != NO_TIMESTAMP) {
            self.watermark = min;
            self.pending.push_back(GateEvent::Watermark(min));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossbeam_channel::{Sender, bounded};
    use ferroflink_core::element::SnapshotFormat;
    use std::time::Duration;

    fn gate(n: usize) -> (InputGate, Vec<Sender<Element>>) {
        let (txs, rxs): (Vec<_>, Vec<_>) = (0..n).map(|_| bounded(16)).unzip();
        (InputGate::new(rxs.into_iter().map(|r| (r, 0)).collect()), txs)
    }

    fn soon() -> Instant {
        Instant::now() + Duration::from_millis(20)
    }

    #[test]
    fn watermark_is_min_over_channels_and_ended_counts_as_max() {
        let (mut g, tx) = gate(2);
        tx[0].send(Element::Watermark(10)).unwrap();
        assert!(matches!(g.next(soon()), GateEvent::Timeout));
        tx[1].send(Element::Watermark(5)).unwrap();
        assert!(matches!(g.next(soon()), GateEvent::Watermark(5)));
        tx[1].send(Element::EndOfInput).unwrap();
        assert!(matches!(g.next(soon()), GateEvent::Watermark(10)));
        tx[0].send(Element::EndOfInput).unwrap();
        assert!(matches!(g.next(soon()), GateEvent::Watermark(i64::MAX)));
        assert!(matches!(g.next(soon()), GateEvent::EndOfInput));
    }

    #[test]
    fn idle_channels_do_not_hold_back_the_watermark() {
        let (mut g, tx) = gate(2);
        tx[1].send(Element::Idle(true)).unwrap();
        tx[0].send(Element::Watermark(7)).unwrap();
        assert!(matches!(g.next(soon()), GateEvent::Watermark(7)));
        tx[0].send(Element::Idle(true)).unwrap();
        assert!(matches!(g.next(soon()), GateEvent::Idle(true)));
        tx[1].send(Element::Watermark(3)).unwrap();
        assert!(matches!(g.next(soon()), GateEvent::Idle(false)));
        // Channel 1 is active again at 3: the combined watermark never goes back...
        assert!(matches!(g.next(soon()), GateEvent::Timeout));
        // ...and moves on with the active channel alone.
        tx[1].send(Element::Watermark(9)).unwrap();
        assert!(matches!(g.next(soon()), GateEvent::Watermark(9)));
    }

    #[test]
    fn barriers_align_by_blocking_channels() {
        let (mut g, tx) = gate(2);
        let b = CheckpointBarrier { id: 1, timestamp: 0, format: SnapshotFormat::Canonical };
        tx[0].send(Element::Barrier(b)).unwrap();
        tx[0].send(Element::Batch(AnyBatch::new(vec![ferroflink_core::record::Record::untimed(1u64)]))).unwrap();
        tx[1].send(Element::Batch(AnyBatch::new(vec![ferroflink_core::record::Record::untimed(2u64)]))).unwrap();
        // Channel 0 is blocked after its barrier: the record behind it must wait.
        match g.next(soon()) {
            GateEvent::Batch(_, b) => assert_eq!(b.into_records::<u64>()[0].value, 2),
            e => panic!("unexpected {e:?}"),
        }
        assert!(matches!(g.next(soon()), GateEvent::Timeout));
        tx[1].send(Element::Barrier(b)).unwrap();
        assert!(matches!(g.next(soon()), GateEvent::Barrier(x) if x.id == 1));
        match g.next(soon()) {
            GateEvent::Batch(_, b) => assert_eq!(b.into_records::<u64>()[0].value, 1),
            e => panic!("unexpected {e:?}"),
        }
    }
}
