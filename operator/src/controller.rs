//! The operator process (`ferroflink-operator run`): leader election on a Lease, the FlinkJob
//! controller while leading, and `/metrics`, `/healthz`, `/readyz` (ready = leading) on one port.

use crate::crd::FlinkJob;
use crate::leader::lease_manager;
use crate::metrics::Metrics;
use crate::reconcile::{Context, error_policy, reconcile};
use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::controller::Controller;
use kube::runtime::watcher;
use kube::{Api, Client};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// Settings of the operator process.
#[derive(Clone, Debug, clap::Args)]
pub struct RunArgs {
    /// Namespaces to watch (repeat the flag); all namespaces when absent.
    #[arg(long = "namespace")]
    pub namespaces: Vec<String>,
    /// Namespace of the leader Lease (default: $POD_NAMESPACE, else `default`).
    #[arg(long)]
    pub lease_namespace: Option<String>,
    /// Lease duration in seconds: how fast a standby takes over.
    #[arg(long, default_value_t = 15)]
    pub lease_duration: u64,
    /// Run without leader election (a single replica).
    #[arg(long)]
    pub no_leader_election: bool,
    /// Address of `/metrics`, `/healthz` and `/readyz`.
    #[arg(long, default_value = "0.0.0.0:8080")]
    pub metrics_bind: SocketAddr,
}

/// Runs the operator until SIGINT/SIGTERM.
pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    // kube's TLS uses rustls; pin one crypto provider so no feature combination can leave it ambiguous.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = Client::try_default().await?;
    let metrics = Arc::new(Metrics::default());
    let leading = Arc::new(AtomicBool::new(false));
    tokio::spawn(serve(args.metrics_bind, metrics.clone(), leading.clone()));

    if args.no_leader_election {
        leading.store(true, Ordering::SeqCst);
        metrics.set_leader(true);
        tokio::select! {
            _ = controllers(client, &args.namespaces, metrics) => {}
            _ = shutdown() => {}
        }
        return Ok(());
    }
    let identity = std::env::var("POD_NAME").unwrap_or_else(|_| format!("ferroflink-operator-{}", std::process::id()));
    let lease_ns = args
        .lease_namespace
        .clone()
        .or_else(|| std::env::var("POD_NAMESPACE").ok())
        .unwrap_or_else(|| "default".into());
    let manager = lease_manager(client.clone(), &lease_ns, &identity, None, args.lease_duration).await?;
    tracing::info!(%identity, namespace = %lease_ns, "waiting for the leader lease");
    loop {
        let changed = tokio::select! {
            changed = manager.changed() => changed?,
            _ = shutdown() => break,
        };
        if !changed {
            continue;
        }
        tracing::info!(%identity, "leading: starting the controller");
        leading.store(true, Ordering::SeqCst);
        metrics.set_leader(true);
        let stop = tokio::select! {
            _ = controllers(client.clone(), &args.namespaces, metrics.clone()) => false,
            lost = manager.changed() => { lost?; false }
            _ = shutdown() => true,
        };
        leading.store(false, Ordering::SeqCst);
        metrics.set_leader(false);
        if stop {
            break;
        }
        tracing::warn!(%identity, "lost the leader lease: controller stopped");
    }
    manager.release().await?;
    Ok(())
}

async fn shutdown() {
    #[cfg(unix)]
    {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

/// One controller per watched namespace (or one for all), until they end.
async fn controllers(client: Client, namespaces: &[String], metrics: Arc<Metrics>) {
    let scopes: Vec<Option<String>> =
        if namespaces.is_empty() { vec![None] } else { namespaces.iter().cloned().map(Some).collect() };
    let ctx = Arc::new(Context::new(client.clone()));
    let runs = scopes.into_iter().map(|ns| {
        let (jobs, pods, deployments): (Api<FlinkJob>, Api<Pod>, Api<Deployment>) = match &ns {
            Some(ns) => (
                Api::namespaced(client.clone(), ns),
                Api::namespaced(client.clone(), ns),
                Api::namespaced(client.clone(), ns),
            ),
            None => (Api::all(client.clone()), Api::all(client.clone()), Api::all(client.clone())),
        };
        let owned = watcher::Config::default().labels("app.kubernetes.io/managed-by=ferroflink-operator");
        let metrics = metrics.clone();
        let ctx = ctx.clone();
        Controller::new(jobs, watcher::Config::default())
            .owns(pods, owned.clone())
            .owns(deployments, owned)
            .run(
                move |job, ctx| {
                    let metrics = metrics.clone();
                    let span = tracing::info_span!(
                        "reconcile",
                        namespace = job.metadata.namespace.as_deref().unwrap_or_default(),
                        name = job.metadata.name.as_deref().unwrap_or_default()
                    );
                    tracing::Instrument::instrument(
                        async move {
                            let started = Instant::now();
                            let result = reconcile(job, ctx).await;
                            metrics.reconciled(started.elapsed(), result.is_ok());
                            result
                        },
                        span,
                    )
                },
                error_policy,
                ctx,
            )
            .for_each(|result| async move {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "reconcile error (requeued)");
                }
            })
    });
    futures::future::join_all(runs).await;
}

async fn serve(bind: SocketAddr, metrics: Arc<Metrics>, leading: Arc<AtomicBool>) {
    let app = Router::new()
        .route("/metrics", get(move || async move { metrics.encode() }))
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(move || async move {
                if leading.load(Ordering::SeqCst) {
                    (StatusCode::OK, "leading")
                } else {
                    (StatusCode::SERVICE_UNAVAILABLE, "standby")
                }
            }),
        );
    match tokio::net::TcpListener::bind(bind).await {
        Ok(listener) => {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "health and metrics server failed");
            }
        }
        Err(e) => tracing::error!(error = %e, %bind, "cannot bind the health and metrics port"),
    }
}
