//! The receiving side of the data plane: a TaskManager's data server. Deployed tasks register
//! their remote input channels; a connection from a producing TaskManager opens channels by key,
//! is granted each channel's free buffer space in credits, and delivers elements into the
//! channels' buffers. An element beyond the granted credits is a protocol violation that closes the
//! connection. A channel whose connection breaks is kept for [`RECONNECT_WITHIN`]: the sender's
//! next connection opens it again and carries on from the received count; after that its task
//! learns that its upstream is lost.

use crate::VERSION;
use crate::network::frame::{self, Frame};
use crate::network::{ChannelKey, Credit, CreditReturn, RECONNECT_WITHIN};
use crossbeam_channel::{Sender, TrySendError, unbounded};
use ferroflink_core::element::{BatchDecoder, Element};
use ferroflink_core::error::{Error, Result};
use std::collections::HashMap;
use std::io::{BufReader, BufWriter, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// How long an OPEN waits for its consumer to be deployed here.
const REGISTRATION_WAIT: Duration = Duration::from_secs(60);

/// A registered remote input channel.
struct Input {
    tx: Sender<Element>,
    decoder: BatchDecoder,
    capacity: u32,
    credit: CreditReturn,
    /// Since when no connection serves it (its connection broke).
    orphaned: Option<Instant>,
    /// Whether its end of input arrived (a sender that did not learn it may open it again).
    ended: bool,
}

#[derive(Default)]
struct Registry {
    inputs: Mutex<HashMap<ChannelKey, Input>>,
    registered: Condvar,
    /// Attempts that ended here (the latest ones): their channels are not kept for a sender.
    ended: Mutex<std::collections::VecDeque<(String, u64)>>,
}

impl Registry {
    /// Takes the input registered under `key`, waiting for its deployment.
    fn take(&self, key: &ChannelKey) -> Option<Input> {
        let deadline = Instant::now() + REGISTRATION_WAIT;
        let mut inputs = self.inputs.lock().expect("registry lock");
        loop {
            if let Some(input) = inputs.remove(key) {
                return Some(input);
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            inputs =
                self.registered.wait_timeout(inputs, left.min(Duration::from_millis(200))).expect("registry lock").0;
        }
    }

    /// Keeps the channels of a broken connection for the sender's next one.
    fn orphan(&self, channels: impl IntoIterator<Item = (ChannelKey, Input)>) {
        let ended = self.ended.lock().expect("registry lock");
        let mut inputs = self.inputs.lock().expect("registry lock");
        for (key, mut input) in channels {
            if ended.iter().any(|(job, attempt)| *job == key.job_id && *attempt == key.attempt) {
                continue;
            }
            input.orphaned = Some(Instant::now());
            inputs.insert(key, input);
        }
        drop(inputs);
        self.registered.notify_all();
    }

    /// Drops channels orphaned for longer than [`RECONNECT_WITHIN`]: their tasks see the upstream lost.
    fn expire(&self) {
        let mut inputs = self.inputs.lock().expect("registry lock");
        inputs.retain(|key, input| {
            let keep = input.orphaned.is_none_or(|t| t.elapsed() < RECONNECT_WITHIN);
            if !keep && !input.ended {
                tracing::warn!(?key, "no sender came back within {RECONNECT_WITHIN:?}: the channel is lost");
            }
            keep
        });
    }
}

/// Numbers the connections a data server accepts (a channel's owner).
static CONNECTIONS: AtomicU64 = AtomicU64::new(1);

/// A TaskManager's data server.
pub struct DataServer {
    addr: SocketAddr,
    registry: Arc<Registry>,
}

impl DataServer {
    /// Listens on `bind` (port 0: any free port) and serves connections on threads of their own.
    pub fn start(bind: SocketAddr) -> Result<DataServer> {
        let listener =
            TcpListener::bind(bind).map_err(|e| Error::io(format!("cannot listen for data on {bind}"), e))?;
        let addr = listener.local_addr().map_err(|e| Error::io("reading the data address", e))?;
        let registry = Arc::new(Registry::default());
        let serving = registry.clone();
        let janitor = Arc::downgrade(&registry);
        std::thread::Builder::new()
            .name("data-janitor".into())
            .spawn(move || {
                while let Some(registry) = janitor.upgrade() {
                    registry.expire();
                    drop(registry);
                    std::thread::sleep(Duration::from_millis(500));
                }
            })
            .map_err(|e| Error::io("starting the data server's janitor", e))?;
        std::thread::Builder::new()
            .name("data-server".into())
            .spawn(move || {
                for stream in listener.incoming().flatten() {
                    let registry = serving.clone();
                    let peer = stream.peer_addr().map_or("unknown".into(), |a| a.to_string());
                    let spawned = std::thread::Builder::new().name("data-in".into()).spawn(move || {
                        if let Err(e) = serve(stream, &registry) {
                            tracing::warn!(%peer, "data connection closed: {e}");
                        }
                    });
                    if let Err(e) = spawned {
                        tracing::warn!("cannot serve a data connection: {e}");
                    }
                }
            })
            .map_err(|e| Error::io("starting the data server", e))?;
        Ok(DataServer { addr, registry })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Registers the local end of a remote channel: elements go to `tx` (which holds `capacity`),
    /// batches decode with `decoder`; answers what the consuming task returns credits through.
    pub fn register(
        &self,
        key: ChannelKey,
        tx: Sender<Element>,
        decoder: BatchDecoder,
        capacity: usize,
    ) -> CreditReturn {
        let credit = CreditReturn::default();
        let input =
            Input { tx, decoder, capacity: capacity as u32, credit: credit.clone(), orphaned: None, ended: false };
        self.registry.inputs.lock().expect("registry lock").insert(key, input);
        self.registry.registered.notify_all();
        credit
    }

    /// Drops the channels of an attempt that ended here, and keeps none of them for a sender.
    pub fn unregister(&self, job_id: &str, attempt: u64) {
        let mut ended = self.registry.ended.lock().expect("registry lock");
        ended.push_back((job_id.to_string(), attempt));
        if ended.len() > 256 {
            ended.pop_front();
        }
        self.registry
            .inputs
            .lock()
            .expect("registry lock")
            .retain(|k, _| !(k.job_id == job_id && k.attempt == attempt));
    }
}

/// Serves one connection until its sender closes it.
fn serve(stream: TcpStream, registry: &Registry) -> Result<()> {
    stream.set_nodelay(true).map_err(|e| Error::io("configuring a data connection", e))?;
    let writer = stream.try_clone().map_err(|e| Error::io("cloning a data connection", e))?;
    let mut reader = BufReader::with_capacity(256 << 10, stream);
    let mut buf = Vec::new();
    let (job_id, attempt) = match frame::read(&mut reader, &mut buf)? {
        Some(Frame::Hello { version, job_id, attempt }) => {
            if version != VERSION {
                let message = format!("this TaskManager runs ferroflink {VERSION}, the sender {version}");
                send_error(writer, &message);
                return Err(Error::Cluster(message));
            }
            (job_id, attempt)
        }
        Some(other) => return Err(Error::Cluster(format!("a data connection started with {other:?}, not HELLO"))),
        None => return Ok(()),
    };
    // Credits go back on the same connection, from a thread of their own.
    let (credits, pending) = unbounded::<Credit>();
    std::thread::Builder::new()
        .name("data-credit".into())
        .spawn(move || {
            let mut w = BufWriter::new(writer);
            let mut out = Vec::new();
            while let Ok(first) = pending.recv() {
                // Added up per channel; a grant (reset) is written as it is, in order.
                let mut sums: Vec<Credit> = Vec::new();
                for (channel, n, received, reset) in std::iter::once(first).chain(pending.try_iter()) {
                    match sums.iter_mut().rev().find(|c| c.0 == channel) {
                        Some(c) if !reset => {
                            c.1 += n;
                            c.2 = c.2.max(received);
                        }
                        _ => sums.push((channel, n, received, reset)),
                    }
                }
                for (channel, credits, received, reset) in sums {
                    if frame::encode(&Frame::Credit { channel, credits, received, reset }, &mut out).is_err()
                        || frame::write(&mut w, &out).is_err()
                    {
                        return;
                    }
                }
                if w.flush().is_err() {
                    return;
                }
            }
        })
        .map_err(|e| Error::io("starting a credit writer", e))?;
    let owner = CONNECTIONS.fetch_add(1, Ordering::Relaxed);
    let mut channels: HashMap<u32, (ChannelKey, Input)> = HashMap::new();
    let result = loop {
        let frame = match frame::read(&mut reader, &mut buf) {
            Ok(Some(f)) => f,
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        };
        match frame {
            Frame::Open { channel, edge, from, to } => {
                let key = ChannelKey { job_id: job_id.clone(), attempt, edge, from, to };
                let Some(mut input) = registry.take(&key) else {
                    break Err(Error::Cluster(format!(
                        "no task here consumes channel {key:?}: it was not deployed within {REGISTRATION_WAIT:?}, or its \
                         attempt ended, or its connection broke more than {RECONNECT_WITHIN:?} ago"
                    )));
                };
                if input.orphaned.take().is_some() {
                    tracing::info!(?key, "a data connection took over a channel whose connection broke");
                }
                input.credit.connect(owner, channel, input.capacity, credits.clone());
                channels.insert(channel, (key, input));
            }
            Frame::Data { channel, element } => {
                let Some((key, input)) = channels.get_mut(&channel) else {
                    break Err(Error::Cluster(format!("data on channel {channel}, which was never opened")));
                };
                let element = match frame::decode_element(&element, input.decoder) {
                    Ok(e) => e,
                    Err(e) => break Err(e),
                };
                input.ended |= matches!(element, Element::EndOfInput);
                let delivered = input.credit.deliver(owner, || match input.tx.try_send(element) {
                    Ok(()) => (true, Ok(())),
                    Err(TrySendError::Full(_)) => {
                        (false, Err(Error::Cluster(format!("the sender of {key:?} sent more than its credits"))))
                    }
                    // The consuming task ended (cancelled); what still arrives is dropped.
                    Err(TrySendError::Disconnected(_)) => (false, Ok(())),
                });
                match delivered {
                    Some(Ok(())) => {}
                    Some(Err(e)) => break Err(e),
                    None => break Err(Error::Cluster("a newer connection took over its channels".into())),
                }
            }
            Frame::Error { message } => break Err(Error::Cluster(format!("the sender gave up: {message}"))),
            other => break Err(Error::Cluster(format!("unexpected {other:?} on a data connection"))),
        }
    };
    // The sender's next connection may open the channels again (it closes a connection it gave
    // up, so a broken one may end cleanly here; and it may not have learnt that an end of input
    // arrived): they are kept for a while. The credit writer ends once the consuming tasks drop
    // their credit handles.
    registry.orphan(channels.into_values().filter(|(_, input)| input.credit.owned_by(owner)));
    result
}

fn send_error(stream: TcpStream, message: &str) {
    let mut out = Vec::new();
    if frame::encode(&Frame::Error { message: message.into() }, &mut out).is_ok() {
        let mut w = BufWriter::new(stream);
        let _ = frame::write(&mut w, &out);
        let _ = w.flush();
    }
}
