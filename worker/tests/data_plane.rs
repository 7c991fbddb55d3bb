//! Credit-based flow control of the data plane, over a real TCP connection on 127.0.0.1: the
//! sender delivers exactly as many elements as the receiver granted (its buffer size), one more for
//! each element the consumer takes, and the rest waits in the producer's own bounded buffer, so the
//! producer blocks; every element then arrives once, in order.

use ferroflink::network::ChannelKey;
use ferroflink::network::inbound::DataServer;
use ferroflink::network::outbound::{Outbound, OutboundChannel};
use ferroflink::record::Record;
use ferroflink::runtime::element::{AnyBatch, Element};
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
