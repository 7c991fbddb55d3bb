//! Credit-based flow control of the data plane, over a real TCP connection on 127.0.0.1: the
//! sender delivers exactly as many elements as the receiver granted (its buffer size), one more for
//! each element the consumer takes, and the rest waits in the producer's own bounded buffer, so the
//! producer blocks; every element then arrives once, in order. A connection cut mid-stream (by a
//! proxy in between, again and again) is established again and every element still arrives exactly
//! once, in order, without failing the attempt.

use ferroflink::element::{AnyBatch, Element};
use ferroflink::record::Record;
use ferroflink::runtime::network::ChannelKey;
use ferroflink::runtime::network::inbound::DataServer;
use ferroflink::runtime::network::outbound::{Outbound, OutboundChannel};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn settle<T: PartialEq + std::fmt::Debug>(want: T, mut f: impl FnMut() -> T) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while f() != want {
        assert!(Instant::now() < deadline, "expected {want:?}, still {:?}", f());
        std::thread::sleep(Duration::from_millis(5));
    }
    // And it stays so: nothing more arrives without credit.
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(f(), want);
}

#[test]
fn the_sender_never_sends_more_than_the_receiver_granted() {
    let server = DataServer::start("127.0.0.1:0".parse().unwrap()).unwrap();
    let key = ChannelKey { job_id: "job".into(), attempt: 1, edge: 3, from: 0, to: 1 };
    let capacity = 2;
    let (in_tx, in_rx) = crossbeam_channel::bounded::<Element>(capacity);
    let credit = server.register(key.clone(), in_tx, AnyBatch::decoder::<u64>(), capacity);

    // The producing task's side: a bounded local buffer the connection drains against credit.
    let (out_tx, out_rx) = crossbeam_channel::bounded::<Element>(capacity);
    let cancel = Arc::new(AtomicBool::new(false));
    let failed = Arc::new(AtomicBool::new(false));
    let flag = failed.clone();
    Outbound {
        address: server.local_addr().to_string(),
        job_id: key.job_id.clone(),
        attempt: key.attempt,
        channels: vec![OutboundChannel { edge: key.edge, from: key.from, to: key.to, rx: out_rx }],
        compress: true,
    }
    .start(cancel.clone(), move |_| flag.store(true, Ordering::SeqCst))
    .unwrap();
    let produced = Arc::new(AtomicUsize::new(0));
    let count = produced.clone();
    let producer = std::thread::spawn(move || {
        for i in 0..10u64 {
            out_tx.send(Element::Batch(AnyBatch::new(vec![Record::new(i, i as i64)]))).unwrap();
            count.fetch_add(1, Ordering::SeqCst);
        }
        out_tx.send(Element::EndOfInput).unwrap();
    });

    // Two granted, two delivered; two more wait in the producer's buffer and the producer blocks.
    settle(capacity, || in_rx.len());
    settle(2 * capacity, || produced.load(Ordering::SeqCst));
    // Taking one element returns one credit: exactly one more arrives.
    let first = in_rx.recv().unwrap();
    credit.give();
    settle(capacity, || in_rx.len());
    settle(2 * capacity + 1, || produced.load(Ordering::SeqCst));

    let mut values = vec![first];
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let element = in_rx.recv_timeout(deadline - Instant::now()).expect("every element arrives");
        credit.give();
        let end = matches!(element, Element::EndOfInput);
        values.push(element);
        if end {
            break;
        }
    }
    producer.join().unwrap();
    let numbers: Vec<u64> = values
        .into_iter()
        .filter_map(|e| match e {
            Element::Batch(b) => Some(b.into_records::<u64>()[0].value),
            _ => None,
        })
        .collect();
    assert_eq!(numbers, (0..10).collect::<Vec<_>>());
    assert!(!failed.load(Ordering::SeqCst));
}

#[test]
fn a_connection_to_a_dead_address_fails_the_attempt_with_the_reason() {
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (_tx, rx) = crossbeam_channel::bounded::<Element>(1);
    let cancel = Arc::new(AtomicBool::new(false));
    let (report, reason) = crossbeam_channel::bounded(1);
    Outbound {
        address: format!("127.0.0.1:{port}"),
        job_id: "job".into(),
        attempt: 1,
        channels: vec![OutboundChannel { edge: 0, from: 0, to: 0, rx }],
        compress: false,
    }
    .start(cancel.clone(), move |e| {
        let _ = report.send(e.to_string());
    })
    .unwrap();
    let why = reason.recv_timeout(Duration::from_secs(30)).unwrap();
    assert!(why.contains(&format!("127.0.0.1:{port}")) && why.contains("cannot connect"), "{why}");
    assert!(cancel.load(Ordering::SeqCst), "the attempt is cancelled");
}

/// A TCP proxy to `target` whose connections can be cut.
struct Proxy {
    addr: std::net::SocketAddr,
    live: Arc<std::sync::Mutex<Vec<std::net::TcpStream>>>,
    accepted: Arc<AtomicUsize>,
}

impl Proxy {
    fn start(target: std::net::SocketAddr) -> Proxy {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let live = Arc::new(std::sync::Mutex::new(Vec::new()));
        let accepted = Arc::new(AtomicUsize::new(0));
        let (l, a) = (live.clone(), accepted.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().map_while(Result::ok) {
                let server = std::net::TcpStream::connect(target).unwrap();
                l.lock().unwrap().extend([client.try_clone().unwrap(), server.try_clone().unwrap()]);
                a.fetch_add(1, Ordering::SeqCst);
                for (mut from, mut to) in [(client.try_clone().unwrap(), server.try_clone().unwrap()), (server, client)]
                {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    });
                }
            }
        });
        Proxy { addr, live, accepted }
    }

    /// Breaks every connection through it.
    fn cut(&self) {
        for s in self.live.lock().unwrap().drain(..) {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }
}

#[test]
fn a_broken_connection_is_established_again_and_nothing_is_lost_or_repeated() {
    let server = DataServer::start("127.0.0.1:0".parse().unwrap()).unwrap();
    let proxy = Proxy::start(server.local_addr());
    let keys: Vec<ChannelKey> =
        (0..2).map(|to| ChannelKey { job_id: "job".into(), attempt: 1, edge: 0, from: 0, to }).collect();
    let capacity = 4;
    let mut inputs = Vec::new();
    let mut outputs = Vec::new();
    for key in &keys {
        let (in_tx, in_rx) = crossbeam_channel::bounded::<Element>(capacity);
        let credit = server.register(key.clone(), in_tx, AnyBatch::decoder::<u64>(), capacity);
        inputs.push((in_rx, credit));
        let (out_tx, out_rx) = crossbeam_channel::bounded::<Element>(capacity);
        outputs.push((out_tx, OutboundChannel { edge: key.edge, from: key.from, to: key.to, rx: out_rx }));
    }
    let (senders, channels): (Vec<_>, Vec<_>) = outputs.into_iter().unzip();
    let cancel = Arc::new(AtomicBool::new(false));
    let (report, failure) = crossbeam_channel::bounded(1);
    Outbound { address: proxy.addr.to_string(), job_id: "job".into(), attempt: 1, channels, compress: true }
        .start(cancel.clone(), move |e| {
            let _ = report.send(e.to_string());
        })
        .unwrap();
    const N: u64 = 20_000;
    let producers: Vec<_> = senders
        .into_iter()
        .map(|tx| {
            std::thread::spawn(move || {
                for i in 0..N {
                    tx.send(Element::Batch(AnyBatch::new(vec![Record::new(i, i as i64)]))).unwrap();
                }
                tx.send(Element::EndOfInput).unwrap();
            })
        })
        .collect();
    // Consumers that take their time, while the connection is cut every 50 ms.
    let consumers: Vec<_> = inputs
        .into_iter()
        .map(|(rx, credit)| {
            std::thread::spawn(move || {
                let mut got = Vec::new();
                loop {
                    let element = rx.recv_timeout(Duration::from_secs(30)).expect("the channel goes on");
                    credit.give();
                    match element {
                        Element::Batch(b) => got.push(b.into_records::<u64>()[0].value),
                        Element::EndOfInput => return got,
                        other => panic!("unexpected {other:?}"),
                    }
                }
            })
        })
        .collect();
    let cutting = Arc::new(AtomicBool::new(true));
    let cutter = {
        let cutting = cutting.clone();
        std::thread::spawn(move || {
            let mut cuts = 0;
            while cutting.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(50));
                proxy.cut();
                cuts += 1;
            }
            (cuts, proxy.accepted.load(Ordering::SeqCst))
        })
    };
    for p in producers {
        p.join().unwrap();
    }
    let received: Vec<Vec<u64>> = consumers.into_iter().map(|c| c.join().unwrap()).collect();
    cutting.store(false, Ordering::SeqCst);
    let (cuts, connections) = cutter.join().unwrap();
    eprintln!("{cuts} cuts, {connections} connections");
    for got in received {
        assert_eq!(got, (0..N).collect::<Vec<_>>(), "every element once, in order");
    }
    assert!(connections >= 3, "{cuts} cuts, only {connections} connections: the test did not break anything");
    assert!(failure.try_recv().is_err(), "the attempt did not fail: {:?}", failure.try_recv());
}

#[test]
fn a_sender_that_did_not_learn_its_end_arrived_reconnects_and_completes() {
    let server = DataServer::start("127.0.0.1:0".parse().unwrap()).unwrap();
    let proxy = Proxy::start(server.local_addr());
    let key = ChannelKey { job_id: "job".into(), attempt: 1, edge: 0, from: 0, to: 0 };
    let (in_tx, in_rx) = crossbeam_channel::bounded::<Element>(4);
    let credit = server.register(key.clone(), in_tx, AnyBatch::decoder::<u64>(), 4);
    let (out_tx, out_rx) = crossbeam_channel::bounded::<Element>(4);
    let (report, failure) = crossbeam_channel::bounded(1);
    let sender = Outbound {
        address: proxy.addr.to_string(),
        job_id: "job".into(),
        attempt: 1,
        channels: vec![OutboundChannel { edge: 0, from: 0, to: 0, rx: out_rx }],
        compress: false,
    }
    .start(Arc::new(AtomicBool::new(false)), move |e| {
        let _ = report.send(e.to_string());
    })
    .unwrap();
    out_tx.send(Element::Batch(AnyBatch::new(vec![Record::new(1u64, 1)]))).unwrap();
    out_tx.send(Element::EndOfInput).unwrap();
    // Both arrived, and nothing was taken yet: the sender does not know that they did.
    settle(2, || in_rx.len());
    proxy.cut();
    std::thread::sleep(Duration::from_millis(300));
    for _ in 0..2 {
        in_rx.recv().unwrap();
        credit.give();
    }
    // The sender opens the channel again, learns that everything arrived, and ends.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !sender.is_finished() {
        assert!(Instant::now() < deadline, "the sender never completed");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(failure.try_recv().is_err(), "the attempt did not fail");
    assert!(proxy.accepted.load(Ordering::SeqCst) >= 2, "it connected again");
    assert!(in_rx.try_recv().is_err(), "nothing arrived twice");
}
