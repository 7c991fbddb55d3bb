//! The sending side of the data plane: one connection per (attempt, consuming TaskManager). The
//! producing tasks write into bounded local buffers, one per channel, exactly as towards a task of
//! this process; the connection's thread takes an element from a buffer only against a credit of
//! its channel, so a consumer that falls behind fills the buffer and blocks its producer.

use crate::cluster::VERSION;
use crate::error::{Error, Result};
use crate::network::frame::{self, Frame};
use crate::runtime::element::Element;
use crossbeam_channel::{Receiver, Select, TryRecvError, unbounded};
use std::io::{BufReader, BufWriter, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long a connection is retried before the attempt fails.
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

    fn connect(&self, cancel: &AtomicBool) -> Result<TcpStream> {
        let deadline = Instant::now() + CONNECT_WITHIN;
        let mut delay = Duration::from_millis(20);
        loop {
            match TcpStream::connect(&self.address) {
                Ok(s) => return Ok(s),
                Err(e) if Instant::now() + delay > deadline || cancel.load(Ordering::SeqCst) => {
                    return Err(Error::io(format!("cannot connect to {} within {CONNECT_WITHIN:?}", self.address), e));
                }
                Err(_) => {
                    std::thread::sleep(delay);
                    delay = (delay * 2).min(Duration::from_secs(1));
                }
            }
        }
    }

    fn run(self, cancel: &AtomicBool) -> Result<()> {
        let stream = self.connect(cancel)?;
        stream.set_nodelay(true).map_err(|e| Error::io("configuring a data connection", e))?;
        let reader = stream.try_clone().map_err(|e| Error::io("cloning a data connection", e))?;
        let mut w = BufWriter::with_capacity(256 << 10, stream);
        let mut out = Vec::new();
        frame::encode(
            &Frame::Hello { version: VERSION.into(), job_id: self.job_id.clone(), attempt: self.attempt },
            &mut out,
        )?;
        frame::write(&mut w, &out)?;
        for (i, c) in self.channels.iter().enumerate() {
            frame::encode(&Frame::Open { channel: i as u32, edge: c.edge, from: c.from, to: c.to }, &mut out)?;
            frame::write(&mut w, &out)?;
        }
        w.flush().map_err(|e| Error::io("writing to a data connection", e))?;

        // Credits arrive on the same connection; a reader thread hands them over.
        let (credit_tx, credits) = unbounded::<std::result::Result<(u32, u32), String>>();
        std::thread::Builder::new()
            .name("data-credits".into())
            .spawn(move || {
                let mut r = BufReader::new(reader);
                let mut buf = Vec::new();
                loop {
                    let message = match frame::read(&mut r, &mut buf) {
                        Ok(Some(Frame::Credit { channel, credits })) => Ok((channel, credits)),
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
        let mut credit = vec![0u32; n];
        let mut ended = vec![false; n];
        let mut open = n;
        let mut unflushed = false;
        while open > 0 {
            if cancel.load(Ordering::SeqCst) {
                return Ok(());
            }
            // Whatever is ready now, against credit; flush only when nothing more is.
            let mut progressed = false;
            for ch in 0..n {
                while !ended[ch] && credit[ch] > 0 {
                    match self.channels[ch].rx.try_recv() {
                        Ok(element) => {
                            let last = matches!(element, Element::EndOfInput);
                            frame::encode_data(ch as u32, &element, self.compress, &mut out)?;
                            frame::write(&mut w, &out)?;
                            credit[ch] -= 1;
                            unflushed = true;
                            progressed = true;
                            if last {
                                ended[ch] = true;
                                open -= 1;
                            }
                        }
                        Err(TryRecvError::Empty) => break,
                        // The producer went away without ending the channel: it failed or was
                        // cancelled, and its attempt ends; the receiver sees the connection close.
                        Err(TryRecvError::Disconnected) => return Ok(()),
                    }
                }
            }
            for message in credits.try_iter() {
                let (ch, n) = message.map_err(Error::Cluster)?;
                let slot = credit
                    .get_mut(ch as usize)
                    .ok_or_else(|| Error::Cluster(format!("credit for unknown channel {ch}")))?;
                *slot += n;
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
            for ch in (0..n).filter(|&c| !ended[c] && credit[c] > 0) {
                select.recv(&self.channels[ch].rx);
            }
            select.recv(&credits);
            let _ = select.ready_timeout(Duration::from_millis(50));
        }
        w.flush().map_err(|e| Error::io("writing to a data connection", e))?;
        Ok(())
    }
}
