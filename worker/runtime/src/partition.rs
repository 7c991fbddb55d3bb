//! Record writers: how a task's output is split over the channels of an edge (forward, rebalance,
//! broadcast, key groups) and buffered into batches. Sending blocks when the consumer's bounded
//! channel is full, which is how back-pressure reaches the sources; the time spent blocked is the
//! task's back-pressured time.

use crate::metrics::TaskMetrics;
use crossbeam_channel::{SendTimeoutError, Sender, TrySendError};
use ferroflink_core::element::{AnyBatch, BatchDecoder, Element};
use ferroflink_core::error::{Error, Result};
use ferroflink_core::keygroup::{KeyGroupAssigner, operator_index_for_key_group};
use ferroflink_core::record::{Data, Record};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How records of an edge are distributed over the consumer's subtasks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShipStrategy {
    /// Subtask i to subtask i (same parallelism).
    Forward,
    /// Round robin over all consumers.
    Rebalance,
    /// Every record to every consumer.
    Broadcast,
    /// By the key's key group.
    KeyGroups,
}

/// The sending end of one channel.
#[derive(Clone)]
pub struct ChannelSender {
    tx: Sender<Element>,
    cancel: Arc<AtomicBool>,
    metrics: Arc<TaskMetrics>,
    /// Batches are encoded and decoded with this before they are sent (serialize-every-edge mode),
    /// with the record type's name for errors.
    round_trip: Option<(BatchDecoder, &'static str)>,
}

impl ChannelSender {
    /// Wraps a channel; `cancel` aborts a blocked send; blocked time goes to `metrics`.
    pub fn new(tx: Sender<Element>, cancel: Arc<AtomicBool>, metrics: Arc<TaskMetrics>) -> Self {
        ChannelSender { tx, cancel, metrics, round_trip: None }
    }

    /// Sends every batch through the codec first: encoded, then decoded by `decoder`, as a batch
    /// that crosses the network is.
    pub fn with_round_trip(mut self, decoder: BatchDecoder, record_type: &'static str) -> Self {
        self.round_trip = Some((decoder, record_type));
        self
    }

    /// Sends, blocking while the channel is full.
    pub fn send(&self, element: Element) -> Result<()> {
        let element = match (element, self.round_trip) {
            (Element::Batch(batch), Some((decode, record_type))) => {
                let mut bytes = Vec::new();
                batch.encode(&mut bytes)?;
                Element::Batch(decode(&bytes).map_err(|e| {
                    Error::Codec(format!(
                        "records of type {record_type} do not decode from their own encoding ({e}); between \
                         processes this edge would fail the same way (serialize-every-edge mode)"
                    ))
                })?)
            }
            (element, _) => element,
        };
        let element = match self.tx.try_send(element) {
            Ok(()) => return Ok(()),
            Err(TrySendError::Disconnected(_)) => return Err(Error::Cancelled),
            Err(TrySendError::Full(e)) => e,
        };
        let started = Instant::now();
        let mut element = element;
        let result = loop {
            match self.tx.send_timeout(element, Duration::from_millis(50)) {
                Ok(()) => break Ok(()),
                Err(SendTimeoutError::Disconnected(_)) => break Err(Error::Cancelled),
                Err(SendTimeoutError::Timeout(e)) => {
                    if self.cancel.load(Ordering::Relaxed) {
                        break Err(Error::Cancelled);
                    }
                    element = e;
                }
            }
        };
        self.metrics.add_backpressured(started.elapsed());
        result
    }
}

/// A task's output towards one downstream edge.
pub trait RecordWriter {
    /// Buffers a batch, sending full batches.
    fn write(&mut self, batch: AnyBatch) -> Result<()>;
    /// Sends buffered records, then `element` on every channel.
    fn broadcast(&mut self, element: &Element) -> Result<()>;
    /// Sends buffered records.
    fn flush(&mut self) -> Result<()>;
}

/// Extracts a record's key group on a key-group edge.
pub type KeyGroupFn<T> = Arc<dyn Fn(&T, &mut Vec<u8>) -> usize + Send + Sync>;

/// The typed writer behind every edge.
pub struct PartitionWriter<T> {
    channels: Vec<ChannelSender>,
    buffers: Vec<Vec<Record<T>>>,
    strategy: ShipStrategy,
    batch_size: usize,
    next: usize,
    key_group: Option<(KeyGroupFn<T>, usize)>,
    scratch: Vec<u8>,
}

impl<T: Data> PartitionWriter<T> {
    /// A writer over `channels` (one per consumer subtask, or one for forward edges).
    /// `key_group` is the key-group function and max parallelism of a key-group edge.
    pub fn new(
        channels: Vec<ChannelSender>,
        strategy: ShipStrategy,
        batch_size: usize,
        start_channel: usize,
        key_group: Option<(KeyGroupFn<T>, usize)>,
    ) -> Self {
        assert!(!channels.is_empty(), "an edge has at least one channel");
        assert!(strategy != ShipStrategy::KeyGroups || key_group.is_some(), "key-group edge without key");
        let n = channels.len();
        PartitionWriter {
            channels,
            buffers: (0..n).map(|_| Vec::new()).collect(),
            strategy,
            batch_size: batch_size.max(1),
            next: start_channel % n,
            key_group,
            scratch: Vec::new(),
        }
    }

    fn send_buffer(&mut self, ch: usize) -> Result<()> {
        if !self.buffers[ch].is_empty() {
            let records = std::mem::replace(&mut self.buffers[ch], Vec::with_capacity(self.batch_size));
            self.channels[ch].send(Element::Batch(AnyBatch::new(records)))?;
        }
        Ok(())
    }

    fn push(&mut self, ch: usize, record: Record<T>) -> Result<()> {
        let buf = &mut self.buffers[ch];
        if buf.capacity() == 0 {
            buf.reserve(self.batch_size);
        }
        buf.push(record);
        if buf.len() >= self.batch_size {
            self.send_buffer(ch)?;
        }
        Ok(())
    }
}

impl<T: Data> RecordWriter for PartitionWriter<T> {
    fn write(&mut self, batch: AnyBatch) -> Result<()> {
        let records = batch.into_records::<T>();
        let n = self.channels.len();
        match self.strategy {
            // One channel: every key goes there, no key need be computed.
            ShipStrategy::Forward | ShipStrategy::KeyGroups if n == 1 => {
                if self.buffers[0].is_empty() && records.len() >= self.batch_size / 2 {
                    self.channels[0].send(Element::Batch(AnyBatch::new(records)))?;
                } else {
                    for r in records {
                        self.push(0, r)?;
                    }
                }
            }
            ShipStrategy::Forward | ShipStrategy::Rebalance => {
                for r in records {
                    let ch = self.next;
                    self.next = if ch + 1 == n { 0 } else { ch + 1 };
                    self.push(ch, r)?;
                }
            }
            ShipStrategy::Broadcast => {
                self.flush()?;
                for ch in 0..n {
                    self.channels[ch].send(Element::Batch(AnyBatch::new(records.clone())))?;
                }
            }
            ShipStrategy::KeyGroups => {
                let (kg_fn, max_parallelism) = self.key_group.clone().expect("checked in new");
                for r in records {
                    let kg = kg_fn(&r.value, &mut self.scratch);
                    let ch = operator_index_for_key_group(max_parallelism, n, kg);
                    self.push(ch, r)?;
                }
            }
        }
        Ok(())
    }

    fn broadcast(&mut self, element: &Element) -> Result<()> {
        self.flush()?;
        for ch in &self.channels {
            let copy = match element {
                Element::Watermark(w) => Element::Watermark(*w),
                Element::Idle(i) => Element::Idle(*i),
                Element::Barrier(b) => Element::Barrier(*b),
                Element::EndOfInput => Element::EndOfInput,
                Element::Batch(_) => unreachable!("batches are written, not broadcast as control"),
            };
            ch.send(copy)?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        for ch in 0..self.channels.len() {
            self.send_buffer(ch)?;
        }
        Ok(())
    }
}

/// Builds the key-group function of a key selector.
pub fn key_group_fn<T: 'static, K: serde::Serialize + 'static>(
    key_selector: Arc<dyn Fn(&T) -> K + Send + Sync>,
    max_parallelism: usize,
) -> KeyGroupFn<T> {
    let assigner = KeyGroupAssigner::new(max_parallelism);
    Arc::new(move |value: &T, scratch: &mut Vec<u8>| assigner.key_group(&key_selector(value), scratch))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossbeam_channel::bounded;

    fn senders(n: usize) -> (Vec<ChannelSender>, Vec<crossbeam_channel::Receiver<Element>>) {
        let m = Arc::new(TaskMetrics::default());
        let cancel = Arc::new(AtomicBool::new(false));
        (0..n)
            .map(|_| {
                let (tx, rx) = bounded(64);
                (ChannelSender::new(tx, cancel.clone(), m.clone()), rx)
            })
            .unzip()
    }

    fn drain(rx: &crossbeam_channel::Receiver<Element>) -> Vec<u64> {
        let mut out = Vec::new();
        while let Ok(e) = rx.try_recv() {
            if let Element::Batch(b) = e {
                out.extend(b.into_records::<u64>().into_iter().map(|r| r.value));
            }
        }
        out
    }

    #[test]
    fn key_groups_send_each_key_to_one_channel_and_keep_order() {
        let (tx, rx) = senders(3);
        let kg = key_group_fn::<u64, u64>(Arc::new(|v: &u64| *v % 10), 128);
        let mut w = PartitionWriter::new(tx, ShipStrategy::KeyGroups, 4, 0, Some((kg.clone(), 128)));
        let input: Vec<u64> = (0..100).collect();
        w.write(AnyBatch::new(input.iter().map(|v| Record::untimed(*v)).collect())).unwrap();
        w.broadcast(&Element::Watermark(5)).unwrap();
        let mut seen = Vec::new();
        for (ch, r) in rx.iter().enumerate() {
            let vals = drain(r);
            let mut scratch = Vec::new();
            for v in &vals {
                assert_eq!(operator_index_for_key_group(128, 3, kg(v, &mut scratch)), ch);
            }
            let mut sorted = vals.clone();
            sorted.sort();
            assert_eq!(vals, sorted, "order within a channel is kept");
            seen.extend(vals);
        }
        seen.sort();
        assert_eq!(seen, input);
    }

    #[test]
    fn rebalance_spreads_evenly_and_broadcast_copies() {
        let (tx, rx) = senders(4);
        let mut w = PartitionWriter::<u64>::new(tx, ShipStrategy::Rebalance, 3, 1, None);
        w.write(AnyBatch::new((0..40u64).map(Record::untimed).collect())).unwrap();
        w.flush().unwrap();
        for r in &rx {
            assert_eq!(drain(r).len(), 10);
        }
        let (tx, rx) = senders(2);
        let mut w = PartitionWriter::<u64>::new(tx, ShipStrategy::Broadcast, 3, 0, None);
        w.write(AnyBatch::new((0..5u64).map(Record::untimed).collect())).unwrap();
        for r in &rx {
            assert_eq!(drain(r), vec![0, 1, 2, 3, 4]);
        }
    }
}
