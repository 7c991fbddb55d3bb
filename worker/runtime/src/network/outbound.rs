//! The sending side of the data plane: one connection per (attempt, consuming TaskManager). The
//! producing tasks write into bounded local buffers, one per channel, exactly as towards a task of
//! this process; the connection's thread takes an element from a buffer only against a credit of
//! its channel, so a consumer that falls behind fills the buffer and blocks its producer.
//!
//! Each channel keeps the encoded elements it sent until the receiver reports them received, so a
//! connection that breaks is established again and carries on where the receiver is (see
//! [`crate::network`]).

use crate::VERSION;
use crate::network::RECONNECT_WITHIN;
use crate::network::frame::{self, Frame};
use crossbeam_channel::{Receiver, Select, TryRecvError, unbounded};
use ferroflink_core::element::Element;
use ferroflink_core::error::{Error, Result};
use std::collections::VecDeque;
use std::io::{BufReader, BufWriter, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long a first connection is retried before the attempt fails.
const CONNECT_WITHIN: Duration = Duration::from_secs(10);

/// One channel to send: its stream edge, producer and consumer subtasks, and its local buffer.
pub struct OutboundChannel {
    /// Stream edge.
    pub edge: u32,
    /// Producer subtask.
    pub from: u32,
    /// Consumer subtask.
    pub to: u32,
    /// What the producing task wrote.
    pub rx: Receiver<Element>,
}

/// A connection to start: the channels of one attempt towards one TaskManager.
pub struct Outbound {
    /// The consuming TaskManager's data address.
    pub address: String,
    /// The job.
    pub job_id: String,
    /// The attempt.
    pub attempt: u64,
    /// Its channels.
    pub channels: Vec<OutboundChannel>,
    /// Whether batches go LZ4-compressed (`taskmanager.network-compression`).
    pub compress: bool,
}

impl Outbound {
    /// Starts the connection's thread. A failure sets `cancel` and is handed to `failed`.
    pub fn start(self, cancel: Arc<AtomicBool>, failed: impl Fn(Error) + Send + 'static) -> Result<JoinHandle<()>> {
        std::thread::Builder::new()
            .name(format!("data-out {}", self.address).chars().take(60).collect())
            .spawn(move || {
                let address = self.address.clone();
                if let Err(e) = self.run(&cancel)
                    && !cancel.swap(true, Ordering::SeqCst)
                {
                    failed(Error::Cluster(format!("the data connection to the TaskManager at {address} failed: {e}")));
                }
            })
            .map_err(|e| Error::io("starting a data connection", e))
    }

    fn connect(&self, cancel: &AtomicBool, within: Duration) -> Result<TcpStream> {
        let deadline = Instant::now() + within;
        let mut delay = Duration::from_millis(20);
        loop {
            match TcpStream::connect(&self.address) {
                Ok(s) => return Ok(s),
                Err(e) if Instant::now() + delay > deadline || cancel.load(Ordering::SeqCst) => {
                    return Err(Error::io(format!("cannot connect to {} within {within:?}", self.address), e));
                }
                Err(_) => {
                    std::thread::sleep(delay);
                    delay = (delay * 2).min(Duration::from_secs(1));
                }
            }
        }
    }

    /// Sends until every channel ended and the receiver has all of it, connecting again when a
    /// connection breaks.
    fn run(self, cancel: &AtomicBool) -> Result<()> {
        let mut channels: Vec<Sent> = self.channels.iter().map(|_| Sent::default()).collect();
        let mut within = CONNECT_WITHIN;
        // Since when connections have failed without getting anywhere.
        let mut failing_since: Option<Instant> = None;
        loop {
            let stream = self.connect(cancel, within)?;
            match self.session(stream, &mut channels, cancel) {
                Ok(()) => return Ok(()),
                Err(_) if cancel.load(Ordering::SeqCst) => return Ok(()),
                Err(e) => {
                    let since = match failing_since {
                        Some(t) if !channels.iter().any(|c| c.granted) => t,
                        _ => Instant::now(),
                    };
                    if since.elapsed() > RECONNECT_WITHIN {
                        return Err(e);
                    }
                    failing_since = Some(since);
                    tracing::warn!(address = %self.address, "the data connection broke ({e}); connecting again");
                    within = RECONNECT_WITHIN.saturating_sub(since.elapsed());
                }
            }
        }
    }

    /// One connection: opens the channels not yet complete, then sends (again, from what the
    /// receiver has) against credit.
    fn session(&self, stream: TcpStream, channels: &mut [Sent], cancel: &AtomicBool) -> Result<()> {
        stream.set_nodelay(true).map_err(|e| Error::io("configuring a data connection", e))?;
        let reader = stream.try_clone().map_err(|e| Error::io("cloning a data connection", e))?;
        // Closing it on every way out makes the receiver's side end too (and free the channels
        // for the next connection).
        let _closer = Closer(stream.try_clone().map_err(|e| Error::io("cloning a data connection", e))?);
        let mut w = BufWriter::with_capacity(256 << 10, stream);
        let mut out = Vec::new();
        frame::encode(
            &Frame::Hello { version: VERSION.into(), job_id: self.job_id.clone(), attempt: self.attempt },
            &mut out,
        )?;
        frame::write(&mut w, &out)?;
        for (i, c) in self.channels.iter().enumerate() {
            channels[i].credit = 0;
            channels[i].granted = false;
            if !channels[i].complete() {
                frame::encode(&Frame::Open { channel: i as u32, edge: c.edge, from: c.from, to: c.to }, &mut out)?;
                frame::write(&mut w, &out)?;
            }
        }
        w.flush().map_err(|e| Error::io("writing to a data connection", e))?;

        // Credits arrive on the same connection; a reader thread hands them over.
        let (credit_tx, credits) = unbounded::<std::result::Result<(u32, u32, u64, bool), String>>();
        std::thread::Builder::new()
            .name("data-credits".into())
            .spawn(move || {
                let mut r = BufReader::new(reader);
                let mut buf = Vec::new();
                loop {
                    let message = match frame::read(&mut r, &mut buf) {
                        Ok(Some(Frame::Credit { channel, credits, received, reset })) => {
                            Ok((channel, credits, received, reset))
                        }
                        Ok(Some(Frame::Error { message })) => Err(format!("the receiver gave up: {message}")),
                        Ok(Some(other)) => Err(format!("unexpected {other:?} from the receiver")),
                        Ok(None) => Err("the receiver closed the connection".into()),
                        Err(e) => Err(e.to_string()),
                    };
                    let stop = message.is_err();
                    if credit_tx.send(message).is_err() || stop {
                        return;
                    }
                }
            })
            .map_err(|e| Error::io("starting a credit reader", e))?;

        let n = self.channels.len();
        let mut unflushed = false;
        while !channels.iter().all(Sent::complete) {
            if cancel.load(Ordering::SeqCst) {
                return Ok(());
            }
            // Whatever is ready now, against credit; flush only when nothing more is.
            let mut progressed = false;
            for (ch, sent) in channels.iter_mut().enumerate() {
                while sent.granted && sent.credit > 0 {
                    // Below `sent`: sent before the connection broke, and not received.
                    if sent.next == sent.sent {
                        if sent.ended {
                            break;
                        }
                        match self.channels[ch].rx.try_recv() {
                            Ok(element) => {
                                sent.ended = matches!(element, Element::EndOfInput);
                                let mut bytes = sent.spare.pop().unwrap_or_default();
                                frame::encode_data(ch as u32, &element, self.compress, &mut bytes)?;
                                sent.retained.push_back(bytes);
                                sent.sent += 1;
                            }
                            Err(TryRecvError::Empty) => break,
                            // The producer went away without ending the channel: it failed or
                            // was cancelled, and its attempt ends.
                            Err(TryRecvError::Disconnected) => return Ok(()),
                        }
                    }
                    frame::write(&mut w, &sent.retained[(sent.next - sent.base) as usize])?;
                    sent.next += 1;
                    sent.credit -= 1;
                    unflushed = true;
                    progressed = true;
                }
            }
            for message in credits.try_iter() {
                let (ch, n, received, reset) = message.map_err(Error::Cluster)?;
                let sent = channels
                    .get_mut(ch as usize)
                    .ok_or_else(|| Error::Cluster(format!("credit for unknown channel {ch}")))?;
                sent.received(received)?;
                if reset {
                    sent.credit = n;
                    sent.granted = true;
                    sent.next = received;
                } else {
                    sent.credit += n;
                }
                progressed = true;
            }
            if progressed {
                continue;
            }
            if unflushed {
                w.flush().map_err(|e| Error::io("writing to a data connection", e))?;
                unflushed = false;
            }
            // Wait for a channel with credit to have an element, or for more credit.
            let mut select = Select::new();
            for ch in (0..n).filter(|&c| channels[c].granted && !channels[c].ended && channels[c].credit > 0) {
                select.recv(&self.channels[ch].rx);
            }
            select.recv(&credits);
            let _ = select.ready_timeout(Duration::from_millis(50));
        }
        w.flush().map_err(|e| Error::io("writing to a data connection", e))?;
        Ok(())
    }
}

/// What a channel sent and what the receiver has of it.
#[derive(Default)]
struct Sent {
    /// Elements sent (their count).
    sent: u64,
    /// Buffers of forgotten frames, for the next ones.
    spare: Vec<Vec<u8>>,
    /// Encoded frames of elements `base..sent`, kept until the receiver has them.
    retained: VecDeque<Vec<u8>>,
    /// The number of the first retained element.
    base: u64,
    /// The next element to send (below `sent` after a reconnection).
    next: u64,
    /// Credits left.
    credit: u32,
    /// Whether this connection's grant arrived.
    granted: bool,
    /// Whether the end of input was taken from the producer.
    ended: bool,
}

impl Sent {
    /// The receiver has the first `received` elements: forgets them.
    fn received(&mut self, received: u64) -> Result<()> {
        if received > self.sent {
            return Err(Error::Cluster(format!("the receiver claims {received} elements of {} sent", self.sent)));
        }
        while self.base < received {
            if let Some(bytes) = self.retained.pop_front()
                && self.spare.len() < 64
            {
                self.spare.push(bytes);
            }
            self.base += 1;
        }
        Ok(())
    }

    /// Ended, and all of it received.
    fn complete(&self) -> bool {
        self.ended && self.base == self.sent
    }
}

/// Shuts a connection down when dropped.
struct Closer(TcpStream);

impl Drop for Closer {
    fn drop(&mut self) {
        let _ = self.0.shutdown(std::net::Shutdown::Both);
    }
}
