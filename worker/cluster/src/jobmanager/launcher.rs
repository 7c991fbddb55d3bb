//! Slot allocation and deployment: an attempt takes slots on the TaskManagers with the most free
//! ones, is deployed there with the plan digest, and is commanded and watched over the sessions.

use super::*;

/// Deploys a job's attempts into TaskManager slots.
pub(super) struct RemoteLauncher {
    pub(super) cluster: Arc<Cluster>,
    pub(super) job_id: String,
    /// The job's spec, as JSON.
    pub(super) spec: String,
    pub(super) final_snapshot: bool,
    /// What every TaskManager must plan from `spec` ([`JobGraph::plan_digest`]).
    pub(super) plan_digest: String,
}

/// The slots an attempt takes on one TaskManager, and the tasks it runs there.
struct Share {
    taskmanager: String,
    tx: Outbox,
    data_address: String,
    slots: usize,
    tasks: Vec<usize>,
}

impl RemoteLauncher {
    /// Takes `needed` slots, on as few TaskManagers as possible (those with the most free slots
    /// first, so more channels stay inside one process), waiting while fewer are free.
    fn allocate(&self, needed: usize, spec: &AttemptSpec) -> Result<Vec<Share>> {
        let mut tms = self.cluster.taskmanagers.lock().expect("cluster lock");
        loop {
            if spec.cancel.load(Ordering::SeqCst) {
                return Err(Error::Cancelled);
            }
            let free: usize = tms.values().map(TaskManagerInfo::free_slots).sum();
            if free >= needed {
                let mut order: Vec<&mut TaskManagerInfo> = tms.values_mut().filter(|t| t.free_slots() > 0).collect();
                order.sort_by_key(|t| std::cmp::Reverse(t.free_slots()));
                let mut left = needed;
                let mut shares = Vec::new();
                for tm in order {
                    if left == 0 {
                        break;
                    }
                    let take = tm.free_slots().min(left);
                    *tm.allocated.entry(self.job_id.clone()).or_default() += take;
                    left -= take;
                    shares.push(Share {
                        taskmanager: tm.id.clone(),
                        tx: tm.tx.clone(),
                        data_address: tm.data_address.clone(),
                        slots: take,
                        tasks: Vec::new(),
                    });
                }
                spec.status.clear();
                return Ok(shares);
            }
            spec.status.waiting(format!(
                "waiting for task slots: the job needs {needed} slots; {} TaskManager(s) are registered with {free} \
                 free slots. Start more TaskManagers or give them more --slots.",
                tms.len()
            ));
            tms = self.cluster.slots_changed.wait_timeout(tms, Duration::from_millis(200)).expect("cluster lock").0;
        }
    }
}

impl Launcher for RemoteLauncher {
    fn launch(&self, spec: AttemptSpec) -> Result<Box<dyn RunningAttempt>> {
        let job = &spec.job;
        let mut shares = self.allocate(slots_needed(job), &spec)?;
        let placement = match place_on(job, &shares.iter().map(|s| s.slots).collect::<Vec<_>>()) {
            Ok(p) => p,
            Err(e) => {
                for s in &shares {
                    self.cluster.release(&self.job_id, &s.taskmanager, s.slots);
                }
                return Err(e);
            }
        };
        let mut refs: Vec<Vec<proto::TaskRef>> = vec![Vec::new(); shares.len()];
        let mut locations = Vec::new();
        let mut metrics = HashMap::new();
        for v in &job.vertices {
            for i in 0..v.parallelism {
                let index = ferroflink_runtime::deploy::task_index(job, v.index, i);
                let share = placement.subtasks[v.index][i].task_manager;
                let task = proto::TaskRef { vertex: v.index as u32, subtask: i as u32, index: index as u32 };
                refs[share].push(task);
                shares[share].tasks.push(index);
                locations
                    .push(proto::TaskLocation { task: Some(task), data_address: shares[share].data_address.clone() });
                metrics.insert(index, spec.metrics[v.index][i].clone());
            }
        }
        let tasks = metrics.len();
        let (events_tx, events) = unbounded();
        let progress = Arc::new(AttemptProgress::default());
        self.cluster.routes.lock().expect("cluster lock").insert(
            self.job_id.clone(),
            AttemptRoute {
                attempt: spec.number,
                events: events_tx,
                progress: progress.clone(),
                written: spec.coordinator.written_sender(),
                metrics,
                sources: spec.sources.clone(),
            },
        );
        let span = tracing::info_span!("deploy", job_id = %self.job_id, attempt = spec.number, tasks);
        let traceparent = span.in_scope(ferroflink_telemetry::inject);
        let mut closed = Vec::new();
        for (share, tasks) in shares.iter().zip(refs) {
            let deploy = proto::Deploy {
                job_id: self.job_id.clone(),
                job_name: spec.job_name.clone(),
                spec: self.spec.clone(),
                attempt: spec.number,
                tasks,
                locations: locations.clone(),
                restore_location: spec.restored.as_ref().map(|r| r.location()).unwrap_or_default(),
                allow_non_restored_state: spec.restored.as_ref().is_some_and(|r| r.allow_non_restored_state),
                final_snapshot: self.final_snapshot,
                traceparent: traceparent.clone(),
                plan_digest: self.plan_digest.clone(),
            };
            tracing::info!(
                job_id = %self.job_id,
                attempt = spec.number,
                taskmanager = %share.taskmanager,
                tasks = share.tasks.len(),
                "deploying"
            );
            if !share.tx.send(JmBody::Deploy(deploy)) {
                closed.push(share.taskmanager.clone());
            }
        }
        spec.coordinator.set_attempt(Some(AttemptTasks {
            attempt: spec.number,
            tasks,
            commands: Box::new(RemoteCommands {
                job_id: self.job_id.clone(),
                attempt: spec.number,
                taskmanagers: shares.iter().map(|s| s.tx.clone()).collect(),
            }),
            progress,
            cancel: spec.cancel.clone(),
            sources: spec.sources.clone(),
        }));
        for tm in closed {
            self.cluster.lose(&tm, "its session closed while the job was deployed");
        }
        Ok(Box::new(RemoteAttempt {
            cluster: self.cluster.clone(),
            job_id: self.job_id.clone(),
            number: spec.number,
            tasks,
            shares,
            events,
            cancel: spec.cancel.clone(),
        }))
    }
}

/// Sends the coordinator's commands to the TaskManagers running an attempt.
struct RemoteCommands {
    job_id: String,
    attempt: u64,
    taskmanagers: Vec<Outbox>,
}

impl RemoteCommands {
    fn send(&self, body: JmBody) {
        for tx in &self.taskmanagers {
            // A closed session is a lost TaskManager, which fails the attempt anyway.
            tx.send(body.clone());
        }
    }
}

impl TaskCommands for RemoteCommands {
    fn trigger(&self, barrier: CheckpointBarrier, target: &CheckpointTarget) {
        let (incremental, base) = match barrier.format {
            SnapshotFormat::Canonical => (false, 0),
            SnapshotFormat::Incremental { base } => (true, base),
        };
        self.send(JmBody::TriggerCheckpoint(proto::TriggerCheckpoint {
            job_id: self.job_id.clone(),
            attempt: self.attempt,
            checkpoint_id: barrier.id,
            timestamp_ms: barrier.timestamp,
            incremental,
            base,
            location: target.storage.location(""),
            shared_location: target.shared.as_ref().map(|s| s.location("")).unwrap_or_default(),
            traceparent: ferroflink_telemetry::inject(),
        }));
    }

    fn complete(&self, checkpoint_id: u64, then_exit: bool) {
        self.send(JmBody::CheckpointComplete(proto::CheckpointComplete {
            job_id: self.job_id.clone(),
            attempt: self.attempt,
            checkpoint_id,
            then_exit,
        }));
    }
}

/// An attempt deployed to TaskManagers.
struct RemoteAttempt {
    cluster: Arc<Cluster>,
    job_id: String,
    number: u64,
    tasks: usize,
    shares: Vec<Share>,
    events: Receiver<AttemptEvent>,
    cancel: Arc<AtomicBool>,
}

impl RemoteAttempt {
    fn cancel_tasks(&self) {
        for share in &self.shares {
            share.tx.send(JmBody::CancelAttempt(proto::CancelAttempt {
                job_id: self.job_id.clone(),
                attempt: self.number,
            }));
        }
    }
}

impl RunningAttempt for RemoteAttempt {
    fn join(&mut self) -> Result<()> {
        let mut ended = HashSet::new();
        let mut failure: Option<Error> = None;
        let mut cancel_sent = false;
        while ended.len() < self.tasks {
            if self.cancel.load(Ordering::SeqCst) && !cancel_sent {
                self.cancel_tasks();
                cancel_sent = true;
            }
            match self.events.recv_timeout(Duration::from_millis(50)) {
                Ok(AttemptEvent::Ended { task, error }) => {
                    ended.insert(task);
                    if let Some(e) = error.filter(|e| !matches!(e, Error::Cancelled)) {
                        failure.get_or_insert(e);
                        self.cancel.store(true, Ordering::SeqCst);
                    }
                }
                Ok(AttemptEvent::Lost { taskmanager, why }) => {
                    // Its tasks are gone with it; the others are cancelled.
                    if let Some(share) = self.shares.iter().find(|s| s.taskmanager == taskmanager) {
                        ended.extend(share.tasks.iter().copied());
                    }
                    failure.get_or_insert(Error::Cluster(format!(
                        "TaskManager {taskmanager} was lost ({why}) while it ran tasks of job {}",
                        self.job_id
                    )));
                    self.cancel.store(true, Ordering::SeqCst);
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        let mut routes = self.cluster.routes.lock().expect("cluster lock");
        if routes.get(&self.job_id).is_some_and(|r| r.attempt == self.number) {
            routes.remove(&self.job_id);
        }
        drop(routes);
        for share in &self.shares {
            self.cluster.release(&self.job_id, &share.taskmanager, share.slots);
        }
        failure.map_or(Ok(()), Err)
    }
}
