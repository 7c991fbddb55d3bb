//! Every process plans a job the same way, or the job fails at once with the reason.
//! - The JobManager sends the digest of the graph it planned with every deployment (the digest a
//!   local planning of the same job gives); when a TaskManager refuses the deployment as the user's
//!   error, the job is FAILED within seconds, is not deployed again, and `GET /jobs/<id>` says why.
//! - A real TaskManager process, sent a deployment by a stand-in JobManager, refuses a plan digest
//!   it does not plan itself (naming the job and both digests) and a job its image does not know
//!   (naming the job), as the user's error.
//! - The digest follows what the processes must agree on: operators, parallelism, partitioning,
//!   record types; the same job planned twice gives the same digest.

#[path = "support/local_cluster.rs"]
mod local_cluster;

use ferroflink::cluster::VERSION;
use ferroflink::cluster::client::RestClient;
use ferroflink::cluster::jobmanager::JobManager;
use ferroflink::cluster::proto::job_manager_client::JobManagerClient;
use ferroflink::cluster::proto::job_manager_message::Body as JmBody;
use ferroflink::cluster::proto::job_manager_server::{JobManager as JobManagerRpc, JobManagerServer};
use ferroflink::cluster::proto::task_manager_message::Body as TmBody;
use ferroflink::cluster::proto::{
    Deploy, JobManagerMessage, Register, Registered, TaskManagerMessage, TaskRef, TaskState, task_state,
};
use ferroflink::config::Config;
use ferroflink::datastream::StreamExecutionEnvironment;
use ferroflink::jobs::{JobFlags, Registry};
use ferroflink::runtime::Planner;
use std::pin::Pin;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio_stream::wrappers::UnboundedReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn digest(builtin: &str, job_args: &[String]) -> String {
    Registry::with_builtins()
        .plan(&JobFlags::spec(builtin, job_args, &Config::default()).unwrap())
        .unwrap()
        .graph
        .plan_digest()
}

#[test]
fn the_digest_follows_the_plan() {
    let q5 = args(&["--query", "q5", "--events", "1000"]);
    assert_eq!(digest("nexmark", &q5), digest("nexmark", &q5), "the same job, the same digest");
    assert_eq!(digest("nexmark", &q5).len(), 16);
    let p2 = args(&["--query", "q5", "--events", "1000", "--parallelism", "2"]);
    assert_ne!(digest("nexmark", &q5), digest("nexmark", &p2), "parallelism");
    let q7 = args(&["--query", "q7", "--events", "1000"]);
    assert_ne!(digest("nexmark", &q5), digest("nexmark", &q7), "operators");
    // The same shape over another record type plans another digest.
    let plan = |strings: bool| {
        let env = StreamExecutionEnvironment::new();
        if strings {
            env.from_collection(vec!["a".to_string()]).map(|s: String| s).print();
        } else {
            env.from_collection(vec![1u64]).map(|n: u64| n).print();
        }
        env.job_graph().unwrap().plan_digest()
    };
    assert_ne!(plan(true), plan(false), "record types");
}

/// The next message of a session that is not a heartbeat.
async fn next(replies: &mut Streaming<JobManagerMessage>) -> Option<JmBody> {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), replies.message()).await {
            Ok(Ok(Some(JobManagerMessage { body: Some(JmBody::Heartbeat(_)), .. }))) => continue,
            Ok(Ok(Some(m))) => return m.body,
            _ => return None,
        }
    }
}

#[test]
fn the_jobmanager_sends_its_plan_and_fails_a_job_a_taskmanager_refuses() {
    let jm = JobManager::start(local_cluster::local_config(), Arc::new(Registry::with_builtins())).unwrap();
    let rest = RestClient::new(&jm.rest_addr().to_string());
    let job_args = args(&["--query", "q1", "--events", "1000000", "--rate", "1000"]);
    let id = rest.submit(&JobFlags::submission("nexmark", &job_args).unwrap()).unwrap();
    let rt = runtime();
    let (deploy, again) = rt.block_on(async {
        let mut client = JobManagerClient::connect(format!("http://{}", jm.rpc_addr())).await.unwrap();
        let (tx, rx) = unbounded_channel();
        let register = Register {
            version: VERSION.into(),
            taskmanager_id: "stand-in".into(),
            slots: 1,
            data_address: "127.0.0.1:1".into(),
            memory_bytes: 1 << 30,
            metrics_address: String::new(),
            known_epoch: 0,
        };
        tx.send(TaskManagerMessage { body: Some(TmBody::Register(register)) }).unwrap();
        let mut replies = client.session(UnboundedReceiverStream::new(rx)).await.unwrap().into_inner();
        assert!(matches!(next(&mut replies).await, Some(JmBody::Registered(_))));
        let Some(JmBody::Deploy(deploy)) = next(&mut replies).await else { panic!("no deployment") };
        // Refused here, as a TaskManager of another build refuses it.
        for t in &deploy.tasks {
            let state = TaskState {
                job_id: deploy.job_id.clone(),
                attempt: deploy.attempt,
                task: t.index,
                state: task_state::State::Failed as i32,
                error: "invalid job: this TaskManager plans another job graph".into(),
                user_error: true,
            };
            tx.send(TaskManagerMessage { body: Some(TmBody::TaskState(state)) }).unwrap();
        }
        // Anything but another deployment may follow (a cancel of the attempt).
        let mut again = false;
        let until = Instant::now() + Duration::from_secs(3);
        while Instant::now() < until {
            match tokio::time::timeout(Duration::from_millis(200), replies.message()).await {
                Ok(Ok(Some(JobManagerMessage { body: Some(JmBody::Deploy(_)), .. }))) => again = true,
                Ok(Ok(Some(_))) | Err(_) => {}
                Ok(_) => break,
            }
        }
        (deploy, again)
    });
    assert_eq!(deploy.plan_digest, digest("nexmark", &job_args), "the JobManager's digest is the job's plan");
    assert!(!again, "a refused deployment is not retried");
    let job = rest.job(&id).unwrap();
    assert_eq!(job["state"], "FAILED", "{job}");
    assert!(job["status-message"].as_str().unwrap().contains("plans another job graph"), "{job}");
    jm.shutdown();
}

/// A stand-in JobManager: registers whoever connects, sends `deploy`, and passes on what the
/// TaskManager sends.
struct StandIn {
    deploy: Deploy,
    seen: UnboundedSender<TaskManagerMessage>,
}

type Replies = Pin<Box<dyn Stream<Item = Result<JobManagerMessage, Status>> + Send>>;

#[tonic::async_trait]
impl JobManagerRpc for StandIn {
    type SessionStream = Replies;

    async fn session(&self, request: Request<Streaming<TaskManagerMessage>>) -> Result<Response<Replies>, Status> {
        let mut inbound = request.into_inner();
        let seen = self.seen.clone();
        tokio::spawn(async move {
            while let Ok(Some(m)) = inbound.message().await {
                let _ = seen.send(m);
            }
        });
        let (tx, rx) = unbounded_channel();
        let registered = Registered { heartbeat_interval_ms: 1000, heartbeat_timeout_ms: 60_000 };
        tx.send(Ok(JobManagerMessage { epoch: 0, body: Some(JmBody::Registered(registered)) })).unwrap();
        tx.send(Ok(JobManagerMessage { epoch: 0, body: Some(JmBody::Deploy(self.deploy.clone())) })).unwrap();
        // Kept open (the sender lives in the stream's task) for the session's life.
        let stream = UnboundedReceiverStream::new(rx).chain(tokio_stream::pending());
        std::mem::forget(tx);
        Ok(Response::new(Box::pin(stream)))
    }
}

/// What a real TaskManager process answers `deploy` with: the error of its first failed task.
fn taskmanager_answer(deploy: Deploy) -> TaskState {
    let rt = runtime();
    let (seen_tx, mut seen): (_, UnboundedReceiver<TaskManagerMessage>) = unbounded_channel();
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let address = listener.local_addr().unwrap();
    rt.spawn(async move {
        tonic::transport::Server::builder()
            .add_service(JobManagerServer::new(StandIn { deploy, seen: seen_tx }))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
            .await
            .unwrap();
    });
    let mut tm: Child = Command::new(env!("CARGO_BIN_EXE_ferroflink"))
        .args(["taskmanager", "--bind", "127.0.0.1", "--metrics-port", "0", "--jobmanager-address"])
        .arg(address.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let answer = rt.block_on(async {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            match tokio::time::timeout_at(deadline, seen.recv()).await {
                Ok(Some(TaskManagerMessage { body: Some(TmBody::TaskState(s)), .. }))
                    if s.state == task_state::State::Failed as i32 =>
                {
                    return s;
                }
                Ok(Some(_)) => {}
                _ => panic!("the TaskManager did not answer the deployment"),
            }
        }
    });
    let _ = tm.kill();
    let _ = tm.wait();
    answer
}

fn deployment(builtin: &str, job_args: Vec<String>, plan_digest: String) -> Deploy {
    Deploy {
        job_id: "0123456789abcdef0123456789abcdef".into(),
        job_name: format!("{builtin} test"),
        spec: serde_json::to_string(&JobFlags::spec(builtin, &job_args, &Config::default()).unwrap()).unwrap(),
        attempt: 1,
        tasks: vec![TaskRef { vertex: 0, subtask: 0, index: 0 }],
        plan_digest,
        ..Default::default()
    }
}

#[test]
fn a_taskmanager_refuses_a_plan_it_does_not_make_and_a_job_it_does_not_know() {
    let job_args = args(&["--query", "q1", "--events", "1000"]);
    let ours = digest("nexmark", &job_args);
    let answer = taskmanager_answer(deployment("nexmark", job_args, "00000000deadbeef".into()));
    assert!(answer.user_error, "{answer:?}");
    assert!(answer.error.contains("job 'nexmark test' (0123456789abcdef0123456789abcdef)"), "{}", answer.error);
    assert!(
        answer.error.contains(&format!("plan digest {ours} here, 00000000deadbeef on the JobManager")),
        "{}",
        answer.error
    );

    let answer = taskmanager_answer(deployment("length-count", args(&["--input", "x"]), "0".into()));
    assert!(answer.user_error, "{answer:?}");
    assert!(
        answer.error.contains("runs 'length-count', which this TaskManager's image does not know"),
        "{}",
        answer.error
    );
}
