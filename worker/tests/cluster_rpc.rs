//! Bad input on the JobManager's RPC port: a TaskManager of another version, sessions that do not
//! start with `Register`, zero slots, and malformed frames (garbage bytes on the socket, and gRPC
//! messages with random payloads, fuzzed from a fixed seed) are refused with a reason, and the
//! JobManager goes on serving: a proper TaskManager registers afterwards. With HA, a standby refuses
//! TaskManagers naming the leader, forwards REST calls to it, and a leader older than an epoch a
//! TaskManager served is refused. REST `POST /jobs` takes a job spec's settings by our keys or
//! Flink's over the JobManager's configuration, and refuses unknown keys, keys that are not job
//! settings and bad values, naming them.

#[path = "support/local_cluster.rs"]
mod local_cluster;

use ferroflink::cluster::VERSION;
use ferroflink::cluster::client::RestClient;
use ferroflink::cluster::jobmanager::JobManager;
use ferroflink::cluster::proto::job_manager_client::JobManagerClient;
use ferroflink::cluster::proto::task_manager_message::Body;
use ferroflink::cluster::proto::{Heartbeat, Register, TaskManagerMessage};
use ferroflink::jobs::{JobFlags, Registry};
use local_cluster::local_config;
use serde_json::json;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::{Code, Status};

fn start() -> JobManager {
    JobManager::start(local_config(), Arc::new(Registry::with_builtins())).unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

fn register(version: &str, slots: u32) -> TaskManagerMessage {
    TaskManagerMessage {
        body: Some(Body::Register(Register {
            version: version.into(),
            taskmanager_id: format!("test-{version}-{slots}"),
            slots,
            data_address: String::new(),
            memory_bytes: 1 << 30,
            metrics_address: String::new(),
            known_epoch: 0,
        })),
    }
}

/// Opens a session whose first messages are `messages`; answers the JobManager's refusal, if any.
fn session(jm: &JobManager, messages: Vec<TaskManagerMessage>) -> Result<(), Status> {
    runtime().block_on(async {
        let mut client = JobManagerClient::connect(format!("http://{}", jm.rpc_addr())).await.unwrap();
        let mut replies = client.session(tokio_stream::iter(messages)).await?.into_inner();
        // The first reply confirms the registration.
        replies.message().await.map(|_| ())
    })
}

fn registered(jm: &JobManager) -> usize {
    let tms = RestClient::new(&jm.rest_addr().to_string()).call("GET", "/taskmanagers", None).unwrap();
    tms["taskmanagers"].as_array().unwrap().len()
}

#[test]
fn taskmanagers_of_another_version_or_without_slots_are_refused() {
    let jm = start();
    let e = session(&jm, vec![register("0.0.0-other", 2)]).unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
    assert!(e.message().contains("version 0.0.0-other") && e.message().contains(VERSION), "{}", e.message());
    let e = session(&jm, vec![TaskManagerMessage { body: Some(Body::Heartbeat(Heartbeat {})) }]).unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("must be Register"), "{}", e.message());
    let e = session(&jm, vec![register(VERSION, 0)]).unwrap_err();
    assert!(e.message().contains("at least one slot"), "{}", e.message());
    assert_eq!(registered(&jm), 0);
    jm.shutdown();
}

/// Sends payloads as they are, as gRPC messages.
#[derive(Clone, Copy, Default)]
struct RawCodec;

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> RawCodec {
        RawCodec
    }

    fn decoder(&mut self) -> RawCodec {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        use bytes::BufMut;
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        use bytes::Buf;
        Ok(Some(src.copy_to_bytes(src.remaining()).to_vec()))
    }
}

/// xorshift64*: a fixed, dependency-free sequence of fuzz inputs.
struct Fuzz(u64);

impl Fuzz {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn bytes(&mut self, max: usize) -> Vec<u8> {
        let n = (self.next() as usize) % max;
        (0..n).map(|_| self.next() as u8).collect()
    }
}

#[test]
fn malformed_frames_are_refused_and_the_jobmanager_keeps_serving() {
    let jm = start();
    let mut fuzz = Fuzz(0x5eed_f00d);
    // Garbage on the socket: not even HTTP/2.
    for _ in 0..100 {
        let mut s = std::net::TcpStream::connect(jm.rpc_addr()).unwrap();
        let _ = s.write_all(&fuzz.bytes(512));
    }
    // Well-framed gRPC calls whose messages are random bytes (a truncated or mangled Register
    // among them): each is refused with a status, none registers a TaskManager.
    let valid = {
        use prost::Message;
        register(VERSION, 2).encode_to_vec()
    };
    runtime().block_on(async {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", jm.rpc_addr()))
            .unwrap()
            .connect()
            .await
            .unwrap();
        let path = tonic::codegen::http::uri::PathAndQuery::from_static("/ferroflink.cluster.v1.JobManager/Session");
        for i in 0..300 {
            let payload = match i % 3 {
                0 => fuzz.bytes(256),
                1 => valid[..(fuzz.next() as usize) % valid.len()].to_vec(),
                _ => {
                    let mut v = valid.clone();
                    let at = (fuzz.next() as usize) % v.len();
                    v[at] ^= (fuzz.next() as u8) | 1;
                    v
                }
            };
            let mut grpc = tonic::client::Grpc::new(channel.clone());
            grpc.ready().await.unwrap();
            let request = tonic::Request::new(tokio_stream::iter(vec![payload]));
            let outcome = tokio::time::timeout(Duration::from_secs(5), async {
                let mut replies = grpc.streaming(request, path.clone(), RawCodec).await?.into_inner();
                replies.message().await
            })
            .await
            .expect("the JobManager answers every malformed session");
            if let Ok(Some(reply)) = outcome {
                // A mutation that still decodes as a Register of this version registers a
                // TaskManager: a valid message, not a malformed one.
                assert!(!reply.is_empty());
            }
        }
    });
    // Every session ended with its stream, so no TaskManager stays registered...
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(registered(&jm), 0);
    // ...and a proper one still can.
    let rt = runtime();
    rt.block_on(async {
        let mut client = JobManagerClient::connect(format!("http://{}", jm.rpc_addr())).await.unwrap();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tx.send(register(VERSION, 3)).unwrap();
        let mut replies =
            client.session(tokio_stream::wrappers::UnboundedReceiverStream::new(rx)).await.unwrap().into_inner();
        assert!(replies.message().await.unwrap().is_some());
        let count = tokio::task::spawn_blocking({
            let addr = jm.rest_addr().to_string();
            move || {
                let tms = RestClient::new(&addr).call("GET", "/taskmanagers", None).unwrap();
                tms["taskmanagers"][0]["slotsNumber"].as_u64()
            }
        })
        .await
        .unwrap();
        assert_eq!(count, Some(3));
        drop(tx);
    });
    jm.shutdown();
}

#[test]
fn a_standby_names_the_leader_forwards_rest_and_a_deposed_epoch_is_refused() {
    let dir = std::env::temp_dir().join(format!("ff-rpc-ha-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut config = local_config();
    config.ha.mode = ferroflink::config::HaMode::File;
    config.ha.dir = Some(dir.display().to_string());
    config.ha.lease_duration = Duration::from_secs(2);
    let leader = JobManager::start(config.clone(), Arc::new(Registry::with_builtins())).unwrap();
    let rest = |jm: &JobManager| RestClient::new(&jm.rest_addr().to_string());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !leader.cluster().is_leader() {
        assert!(std::time::Instant::now() < deadline, "the first JobManager never led");
        std::thread::sleep(Duration::from_millis(20));
    }
    let standby = JobManager::start(config, Arc::new(Registry::with_builtins())).unwrap();
    // The standby learns who leads within a third of the lease.
    while standby.cluster().leader_rest_address().is_none() {
        assert!(std::time::Instant::now() < deadline, "the standby never learned the leader");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!standby.cluster().is_leader());

    let refused = session(&standby, vec![register(VERSION, 1)]).unwrap_err();
    assert_eq!(refused.code(), Code::Unavailable, "{refused:?}");
    assert!(refused.message().contains("standby"), "{}", refused.message());
    let named = refused.metadata().get("x-ferroflink-leader").unwrap().to_str().unwrap().to_string();
    assert_eq!(named, leader.rpc_addr().to_string());

    // REST: the standby answers its probes and forwards the rest, errors included.
    let ready = |jm: &JobManager| {
        ureq::get(&format!("http://{}/readyz", jm.rest_addr()))
            .config()
            .http_status_as_error(false)
            .build()
            .call()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!((ready(&leader), ready(&standby)), (200, 503));
    // A job submitted through the standby runs on the leader (it waits for slots there), and the
    // standby's answers are the leader's.
    let args = ["--query", "q0", "--events", "10", "--parallelism", "1"].map(String::from);
    let id = rest(&standby).submit(&JobFlags::submission("nexmark", &args).unwrap()).unwrap();
    assert!(leader.cluster().job(&id).is_some() && standby.cluster().job(&id).is_none());
    let jobs = rest(&standby).call("GET", "/jobs", None).unwrap();
    assert_eq!(jobs["jobs"][0]["id"], id.as_str(), "{jobs}");
    rest(&standby).call("PATCH", &format!("/jobs/{id}?mode=cancel"), None).unwrap();
    while !leader.cluster().job(&id).unwrap().state().0.is_terminal() {
        assert!(std::time::Instant::now() < deadline, "the cancel through the standby never arrived");
        std::thread::sleep(Duration::from_millis(20));
    }
    let err = rest(&standby).call("GET", "/jobs/0000", None).unwrap_err().to_string();
    assert!(err.contains("404") && err.contains("not known"), "{err}");
    let err = rest(&standby).submit(&JobFlags::submission("no-such-job", &[]).unwrap()).unwrap_err().to_string();
    assert!(err.contains("400"), "{err}");

    // A TaskManager that served a newer leader refuses this one's epoch: this leader was deposed.
    let mut stale = register(VERSION, 1);
    if let Some(Body::Register(r)) = &mut stale.body {
        r.known_epoch = 7;
    }
    let refused = session(&leader, vec![stale]).unwrap_err();
    assert!(refused.message().contains("deposed"), "{}", refused.message());

    standby.shutdown();
    leader.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_submission_sets_job_settings_by_our_keys_or_flinks_over_the_jobmanagers() {
    let jm = start();
    let rest = RestClient::new(&jm.rest_addr().to_string());
    let job = json!({"kind": "registered", "name": "nexmark", "args": ["--query", "q1", "--events", "10"]});
    let submit = |config: serde_json::Value| rest.call("POST", "/jobs", Some(json!({"job": job, "config": config})));
    let reply = submit(json!({"parallelism.default": "3", "execution.checkpointing.interval": "2 s",
        "checkpointing.dir": "/tmp/ff-ck", "state.backend.type": "rocksdb"}))
    .unwrap();
    let id = reply["jobid"].as_str().unwrap();
    let spec = &rest.call("GET", &format!("/jobs/{id}"), None).unwrap()["spec"];
    assert_eq!(spec["job"], job, "{spec}");
    let settings = &spec["settings"];
    assert_eq!(settings["job"]["parallelism"], 3, "{spec}");
    assert_eq!(settings["checkpointing"]["interval"], "2s", "{spec}");
    assert_eq!(settings["checkpointing"]["dir"], "/tmp/ff-ck", "{spec}");
    assert_eq!(settings["state"]["backend"], "rocksdb", "{spec}");
    assert_eq!(settings["restart-strategy"], json!(local_config().restart_strategy), "the JobManager's: {spec}");
    rest.call("PATCH", &format!("/jobs/{id}?mode=cancel"), None).unwrap();

    for (config, named) in [
        (json!({"parallelism.defualt": "3"}), "`parallelism.defualt`"),
        (json!({"rest.port": "8082"}), "`rest.port`"),
        (json!({"parallelism.default": "many"}), "`parallelism.default`"),
        (json!({"jobmanager.memory.process.size": "2g"}), "`jobmanager.memory.process.size`"),
    ] {
        let err = submit(config.clone()).unwrap_err().to_string();
        assert!(err.contains("400") && err.contains(named), "{config}: {err}");
    }
    jm.shutdown();
}
