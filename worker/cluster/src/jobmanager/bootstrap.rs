//! Bootstrap: the JobManager process starts its RPC server and REST API, then leads at once or
//! campaigns for the lease of the HA records.

use super::*;

/// A running JobManager process: its RPC server, REST API and jobs.
pub struct JobManager {
    cluster: Arc<Cluster>,
    rpc_addr: SocketAddr,
    rest_addr: SocketAddr,
    runtime: tokio::runtime::Runtime,
}

impl JobManager {
    /// Starts the RPC server and the REST API as `config` says (port 0: any free port), and the
    /// job of `job.name` if one is configured (application mode); jobs are planned by `planner`.
    pub fn start(config: Config, planner: Arc<dyn Planner>) -> Result<JobManager> {
        let runtime = runtime("jobmanager")?;
        let rpc_bind = socket_addr(&config.rpc.bind, config.rpc.port.unwrap_or(DEFAULT_RPC_PORT))?;
        let rest_bind = socket_addr(&config.rest.bind, config.rest.port.unwrap_or(DEFAULT_REST_PORT))?;
        // Unique among the JobManagers of a cluster, and the same for a restarted container (whose
        // pid is the same), which then takes its lease back without waiting for it to expire.
        static STARTED: AtomicU64 = AtomicU64::new(0);
        let identity = format!("{}-{}-{}", host_name(), std::process::id(), STARTED.fetch_add(1, Ordering::SeqCst));
        let ha = HaServices::from_config(&config, &identity)?;
        let cluster = Arc::new(Cluster::new(config, planner, ha));
        let (rpc_addr, rest_addr) = runtime.block_on(async {
            let rpc = tokio::net::TcpListener::bind(rpc_bind)
                .await
                .map_err(|e| Error::io(format!("cannot listen for RPC on {rpc_bind}"), e))?;
            let rest = tokio::net::TcpListener::bind(rest_bind)
                .await
                .map_err(|e| Error::io(format!("cannot listen for REST on {rest_bind}"), e))?;
            let addrs = (
                rpc.local_addr().map_err(|e| Error::io("reading the RPC address", e))?,
                rest.local_addr().map_err(|e| Error::io("reading the REST address", e))?,
            );
            let service = JobManagerServer::new(RpcService { cluster: cluster.clone() });
            tokio::spawn(async move {
                let incoming = tokio_stream::wrappers::TcpListenerStream::new(rpc);
                if let Err(e) =
                    tonic::transport::Server::builder().add_service(service).serve_with_incoming(incoming).await
                {
                    tracing::error!("the RPC server stopped: {e}");
                }
            });
            let app = rest::router(cluster.clone());
            tokio::spawn(async move {
                if let Err(e) = axum::serve(rest, app).await {
                    tracing::error!("the REST server stopped: {e}");
                }
            });
            Ok::<_, Error>(addrs)
        })?;
        tracing::info!(rpc = %rpc_addr, rest = %rest_addr, "JobManager started");
        let host = cluster.config.rpc.advertised_address.clone().unwrap_or_else(host_name);
        let rest_host = cluster.config.rest.advertised_address.clone().unwrap_or_else(|| host.clone());
        let _ = cluster
            .advertised
            .set((format!("{host}:{}", rpc_addr.port()), format!("{rest_host}:{}", rest_addr.port())));
        match cluster.ha.clone() {
            None => cluster.lead(0)?,
            Some(ha) => {
                tracing::info!(identity = %ha.identity(), records = %ha.describe(), "campaigning for leadership");
                let c = cluster.clone();
                std::thread::Builder::new()
                    .name("leader-election".into())
                    .spawn(move || elect(&c, &ha))
                    .map_err(|e| Error::io("starting the leader election", e))?;
            }
        }
        Ok(JobManager { cluster, rpc_addr, rest_addr, runtime })
    }

    /// The address TaskManagers connect to.
    pub fn rpc_addr(&self) -> SocketAddr {
        self.rpc_addr
    }

    /// The address of the REST API and web UI.
    pub fn rest_addr(&self) -> SocketAddr {
        self.rest_addr
    }

    /// The shared state.
    pub fn cluster(&self) -> &Arc<Cluster> {
        &self.cluster
    }

    /// Stops the servers. Without HA its jobs are cancelled; with HA they stay running in the
    /// records and the lease is given up, so a standby resumes them at once.
    pub fn shutdown(self) {
        let epoch = self.cluster.epoch.load(Ordering::SeqCst);
        let leading = self.cluster.is_leader();
        match &self.cluster.ha {
            None => {
                for job in self.cluster.jobs() {
                    if let Some(h) = &job.handle {
                        h.cancel();
                    }
                }
            }
            Some(ha) => {
                self.cluster.suspend();
                if leading && let Err(e) = ha.release(epoch) {
                    tracing::warn!("cannot give up the leader lease ({e}); a standby takes over when it expires");
                }
            }
        }
        self.runtime.shutdown_timeout(Duration::from_secs(2));
    }
}

/// Campaigns until this JobManager leads, leads while it renews its lease, and suspends its jobs
/// when the lease is lost (the process then exits: see [`Cluster::is_deposed`]).
fn elect(cluster: &Arc<Cluster>, ha: &HaServices) {
    let (rpc, rest) = cluster.advertised.get().cloned().unwrap_or_default();
    let period = ha.lease_duration() / 3;
    let epoch = loop {
        if cluster.suspended.load(Ordering::SeqCst) {
            return;
        }
        match ha.try_acquire(&rpc, &rest) {
            Ok(Some(epoch)) => break epoch,
            Ok(None) => {}
            Err(e) => tracing::warn!(
                "cannot read the HA records at {} ({e}); check that ha.dir is shared and writable by every \
                 JobManager (file), or that their ServiceAccount may get, create and update leases and configmaps \
                 (kubernetes)",
                ha.describe()
            ),
        }
        let leader = ha.leader().unwrap_or(None);
        let mut known = cluster.leader.lock().expect("cluster lock");
        if leader.as_ref().map(|l| l.epoch) != known.as_ref().map(|l| l.epoch)
            && let Some(l) = &leader
        {
            tracing::info!(leader = %l.holder, epoch = l.epoch, rpc = %l.rpc_address, "standing by");
        }
        *known = leader;
        drop(known);
        std::thread::sleep(period);
    };
    *cluster.leader.lock().expect("cluster lock") = ha.leader().unwrap_or(None);
    // Taking over may restore many jobs from remote storage: the lease is renewed meanwhile.
    let leading = cluster.clone();
    let takeover = std::thread::Builder::new().name("leader-takeover".into()).spawn(move || {
        if let Err(e) = leading.lead(epoch) {
            tracing::error!("cannot take over the jobs of the HA records ({e}); stepping down");
            leading.suspend();
        }
    });
    if let Err(e) = takeover {
        tracing::error!("cannot start taking over the jobs ({e}); stepping down");
        cluster.suspend();
    }
    let mut renewed = Instant::now();
    loop {
        std::thread::sleep(period);
        if cluster.suspended.load(Ordering::SeqCst) {
            // Shutting down, or the takeover failed: let a standby lead at once.
            let _ = ha.release(epoch);
            return;
        }
        match ha.renew(epoch) {
            Ok(true) => renewed = Instant::now(),
            Ok(false) => {
                tracing::error!(epoch, "this JobManager lost its leadership: another one took the lease");
                break;
            }
            Err(e) if renewed.elapsed() < ha.lease_duration() => {
                tracing::warn!("cannot renew the leader lease ({e}); retrying");
            }
            Err(e) => {
                tracing::error!(epoch, "the leader lease ran out while it could not be renewed ({e})");
                break;
            }
        }
    }
    cluster.suspend();
}
