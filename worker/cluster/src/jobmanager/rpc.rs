//! The gRPC service TaskManagers open their sessions with: registration (version, slots, leader,
//! epoch), heartbeats, and the messages of their tasks.

use super::*;

/// The gRPC service TaskManagers connect to.
pub(super) struct RpcService {
    pub(super) cluster: Arc<Cluster>,
}

/// gRPC metadata of a standby's refusal: the leader's RPC address.
pub const LEADER_METADATA: &str = "x-ferroflink-leader";

type MessageStream = Pin<Box<dyn Stream<Item = std::result::Result<JobManagerMessage, Status>> + Send>>;

#[tonic::async_trait]
impl JobManagerRpc for RpcService {
    type SessionStream = MessageStream;

    async fn session(
        &self,
        request: Request<Streaming<TaskManagerMessage>>,
    ) -> std::result::Result<Response<MessageStream>, Status> {
        let peer = request.remote_addr().map_or("unknown".into(), |a| a.to_string());
        let mut inbound = request.into_inner();
        let register = match inbound.message().await? {
            Some(TaskManagerMessage { body: Some(TmBody::Register(r)) }) => r,
            _ => return Err(Status::invalid_argument("the first message of a TaskManager session must be Register")),
        };
        if register.version != VERSION {
            tracing::warn!(%peer, version = %register.version, "refused a TaskManager of another version");
            return Err(Status::failed_precondition(format!(
                "this JobManager runs ferroflink {VERSION}; a TaskManager of version {} cannot join it. Run the \
                 same version on both.",
                register.version
            )));
        }
        if register.slots == 0 {
            return Err(Status::invalid_argument("a TaskManager needs at least one slot (--slots)"));
        }
        if !self.cluster.is_leader() {
            let leader = self.cluster.other_leader();
            let mut status = Status::unavailable(match &leader {
                Some(l) => format!("this JobManager is a standby; register with the leader at {}", l.rpc_address),
                None => "this JobManager does not lead (yet); register again shortly".to_string(),
            });
            if let Some(value) = leader.and_then(|l| l.rpc_address.parse().ok()) {
                status.metadata_mut().insert(LEADER_METADATA, value);
            }
            return Err(status);
        }
        let epoch = self.cluster.epoch.load(Ordering::SeqCst);
        if register.known_epoch > epoch {
            tracing::warn!(%peer, epoch, "a TaskManager served leader epoch {}: this JobManager was deposed", register.known_epoch);
            return Err(Status::unavailable(format!(
                "this JobManager leads epoch {epoch}, but the TaskManager served epoch {}: it was deposed",
                register.known_epoch
            )));
        }
        let heartbeat = self.cluster.config.heartbeat.clone();
        let (tx, rx) = unbounded_channel();
        let tx = Outbox { tx, epoch };
        let registered = proto::Registered {
            heartbeat_interval_ms: heartbeat.interval.as_millis() as u64,
            heartbeat_timeout_ms: heartbeat.timeout.as_millis() as u64,
        };
        tx.send(JmBody::Registered(registered));
        let id = register.taskmanager_id.clone();
        self.cluster.register(TaskManagerInfo {
            id: id.clone(),
            slots: register.slots as usize,
            allocated: HashMap::new(),
            data_address: register.data_address,
            metrics_address: register.metrics_address,
            memory_bytes: register.memory_bytes,
            registered_ms: now_ms(),
            last_heard: Instant::now(),
            tx: tx.clone(),
        });
        let cluster = self.cluster.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(heartbeat.interval);
            let mut last_heard = Instant::now();
            let why = loop {
                tokio::select! {
                    message = inbound.next() => match message {
                        Some(Ok(TaskManagerMessage { body: Some(body) })) => {
                            last_heard = Instant::now();
                            // Reports take locks the job threads hold briefly: off the async workers.
                            let c = cluster.clone();
                            let tm = id.clone();
                            if tokio::task::spawn_blocking(move || c.on_message(&tm, body)).await.is_err() {
                                break "handling its report panicked".to_string();
                            }
                        }
                        Some(Ok(TaskManagerMessage { body: None })) => break "it sent an empty message".to_string(),
                        Some(Err(status)) => break format!("its connection failed: {}", status.message()),
                        None => break "its connection closed".to_string(),
                    },
                    _ = ticks.tick() => {
                        if last_heard.elapsed() > heartbeat.timeout {
                            break format!("no heartbeat for {:?}", heartbeat.timeout);
                        }
                        if !tx.send(JmBody::Heartbeat(proto::Heartbeat {})) {
                            break "its session closed".to_string();
                        }
                    }
                }
            };
            tokio::task::spawn_blocking(move || cluster.lose(&id, &why));
        });
        Ok(Response::new(Box::pin(UnboundedReceiverStream::new(rx).map(Ok))))
    }
}
