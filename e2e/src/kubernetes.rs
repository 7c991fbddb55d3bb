//! A stand-in Kubernetes for operator tests, on 127.0.0.1 and without containers:
//!
//! - the API server is kube-fake-client's in-memory one, served over HTTP as well, so the
//!   JobManagers' and TaskManagers' Kubernetes HA (Leases, ConfigMaps) talks to the same objects
//!   as the operator;
//! - a "kubelet" runs each JobManager Deployment's pods and each TaskManager Pod the operator
//!   creates as real `ferroflink` processes, from the pod's arguments, environment (Secrets and the
//!   downward API resolved) and ConfigMap volume. It rewrites only hosts and ports (every pod gets
//!   127.0.0.1 and free ports, as pods get their own IPs), the config mount path and the image's
//!   data directory (`/opt/ferroflink/data`: the repository's `worker/data`), and reports
//!   readiness (`/healthz`) back into Pod and Deployment status. A Deployment whose template
//!   changes has its pods replaced (the `Recreate` strategy), a deleted one has them stopped;
//! - the operator is the real reconciler, called in a loop, reaching JobManagers the way their
//!   Service would route.

use crate::Process;
use ferroflink_operator::crd::FlinkJob;
use ferroflink_operator::reconcile::{Context, reconcile};
use ferroflink_operator::render::{CONFIG_DIR, SPEC_HASH};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, PodSpec, Secret};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The namespace everything runs in.
pub const NS: &str = "streaming";

/// Where the image keeps the sample data (the Dockerfile copies `worker/data` there); pods read
/// the repository's copy.
const IMAGE_DATA: &str = "/opt/ferroflink/data";

fn image_data() -> String {
    let crate_dir = std::env::var_os("CARGO_MANIFEST_DIR").expect("run by cargo test");
    Path::new(&crate_dir).parent().unwrap().join("worker/data").display().to_string()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A pod the kubelet runs.
struct Running {
    /// The Deployment it belongs to (JobManagers), else none (TaskManager pods).
    deployment: Option<String>,
    /// The template hash it was started from (JobManagers) or the Pod's uid (TaskManagers).
    version: String,
    process: Process,
    /// `127.0.0.1:<port>` of its RPC (JobManagers).
    rpc: Option<String>,
    /// Where its `/healthz` answers.
    health: String,
    /// The REST base URL (JobManagers).
    rest: Option<String>,
    started: Instant,
}

#[derive(Default)]
struct Pods {
    running: BTreeMap<String, Running>,
    /// The logs of pods that are gone, for failure messages.
    gone: Vec<String>,
}

/// The stand-in cluster: API server, kubelet and, when started, the operator.
pub struct Cluster {
    /// The in-memory API.
    pub client: Client,
    runtime: tokio::runtime::Runtime,
    root: PathBuf,
    kubeconfig: PathBuf,
    pods: Arc<Mutex<Pods>>,
    stop: Arc<AtomicBool>,
    kubelet: Option<std::thread::JoinHandle<()>>,
    operator: Option<tokio::task::JoinHandle<()>>,
}

impl Cluster {
    /// Starts the API server and the kubelet; scratch files go under `root`.
    pub fn start(root: &Path) -> Cluster {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let client = runtime.block_on(async {
            kube_fake_client::ClientBuilder::new()
                .with_resource::<FlinkJob>()
                .with_resource::<Lease>()
                .with_status_subresource::<Pod>()
                .with_status_subresource::<Deployment>()
                .build()
                .await
                .unwrap()
        });
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let server = format!("http://{}", listener.local_addr().unwrap());
        let app = axum::Router::new().fallback(forward).with_state(client.clone());
        runtime.spawn(async move { axum::serve(listener, app).await.unwrap() });
        let kubeconfig = root.join("kubeconfig");
        let config = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster: {{server: '{server}'}}\nusers:\n- name: fake\n  user: {{}}\ncontexts:\n- name: fake\n  context: {{cluster: fake, user: fake, namespace: {NS}}}\ncurrent-context: fake\n"
        );
        std::fs::write(&kubeconfig, config).unwrap();
        let mut cluster = Cluster {
            client,
            runtime,
            root: root.to_path_buf(),
            kubeconfig,
            pods: Arc::default(),
            stop: Arc::default(),
            kubelet: None,
            operator: None,
        };
        let kubelet = Kubelet {
            client: cluster.client.clone(),
            handle: cluster.runtime.handle().clone(),
            root: cluster.root.clone(),
            kubeconfig: cluster.kubeconfig.clone(),
            pods: cluster.pods.clone(),
        };
        let stop = cluster.stop.clone();
        cluster.kubelet = Some(std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                kubelet.sync();
                std::thread::sleep(Duration::from_millis(200));
            }
            kubelet.stop_all();
        }));
        cluster
    }

    /// Runs `f` on the cluster's runtime.
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.runtime.block_on(f)
    }

    /// A reconciler context whose JobManager URLs are the Service's: a ready JobManager pod of the job.
    pub fn context(&self) -> Context {
        let pods = self.pods.clone();
        Context::with_jobmanager_url(
            self.client.clone(),
            Arc::new(move |job: &FlinkJob| {
                let deployment = format!("{}-jobmanager", job.name_any());
                let pods = pods.lock().unwrap();
                let rest = pods
                    .running
                    .values()
                    .filter(|p| p.deployment.as_ref() == Some(&deployment))
                    .find_map(|p| p.rest.clone());
                rest.unwrap_or_else(|| "http://127.0.0.1:1".into())
            }),
        )
    }

    /// Starts the operator (stopping one that runs): reconciles the FlinkJob `name` every 300 ms
    /// with a fresh context.
    pub fn start_operator(&mut self, name: &str) {
        self.stop_operator();
        let ctx = Arc::new(self.context());
        let api: Api<FlinkJob> = Api::namespaced(self.client.clone(), NS);
        let name = name.to_string();
        self.operator = Some(self.runtime.spawn(async move {
            loop {
                if let Ok(Some(job)) = api.get_opt(&name).await
                    && let Err(e) = reconcile(Arc::new(job), ctx.clone()).await
                {
                    eprintln!("reconcile: {e}");
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }));
    }

    /// Stops the operator (as a crash would: between two passes).
    pub fn stop_operator(&mut self) {
        if let Some(task) = self.operator.take() {
            task.abort();
            let _ = self.runtime.block_on(task);
        }
    }

    /// The FlinkJob API.
    pub fn flinkjobs(&self) -> Api<FlinkJob> {
        Api::namespaced(self.client.clone(), NS)
    }

    /// The FlinkJob `name` as stored now.
    pub fn get(&self, name: &str) -> FlinkJob {
        self.block_on(self.flinkjobs().get(name)).unwrap()
    }

    /// Merge-patches the spec of FlinkJob `name`.
    pub fn patch_spec(&self, name: &str, spec: Value) {
        let patch = json!({ "spec": spec });
        self.block_on(self.flinkjobs().patch(name, &PatchParams::default(), &Patch::Merge(&patch))).unwrap();
    }

    /// Deletes the FlinkJob `name` as the API server would with the operator's finalizer on it:
    /// the operator is handed the object with a deletion timestamp until it lets go, then it goes.
    /// (The in-memory server deletes at once and refuses to set the timestamp, so the operator's
    /// passes are driven here, on the object as the API server would show it.) Waits for that, at
    /// most `timeout`; the operator loop is stopped.
    pub fn delete_flinkjob(&mut self, name: &str, timeout: Duration) {
        self.stop_operator();
        let since = k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(k8s_openapi::jiff::Timestamp::now());
        let ctx = Arc::new(self.context());
        let deadline = Instant::now() + timeout;
        loop {
            let mut job = self.get(name);
            if job.finalizers().is_empty() {
                self.block_on(self.flinkjobs().delete(name, &DeleteParams::default())).unwrap();
                return;
            }
            job.metadata.deletion_timestamp = Some(since.clone());
            if let Err(e) = self.block_on(reconcile(Arc::new(job), ctx.clone())) {
                eprintln!("reconcile: {e}");
            }
            assert!(Instant::now() < deadline, "{name} is still not let go after {timeout:?}:\n{}", self.logs());
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    /// Creates an object in the namespace.
    pub fn create<K>(&self, object: &K)
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + serde::Serialize
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
    {
        let api: Api<K> = Api::namespaced(self.client.clone(), NS);
        self.block_on(api.create(&PostParams::default(), object)).unwrap();
    }

    /// Waits until the FlinkJob `name` satisfies `check`; fails with its status and the pods' logs.
    pub fn wait_for(&self, name: &str, what: &str, timeout: Duration, check: impl Fn(&FlinkJob) -> bool) -> FlinkJob {
        let deadline = Instant::now() + timeout;
        loop {
            let job = self.get(name);
            if check(&job) {
                return job;
            }
            if Instant::now() > deadline {
                panic!(
                    "{name}: not {what} within {timeout:?}; status {}\n{}",
                    serde_json::to_string_pretty(&job.status).unwrap(),
                    self.logs()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The pods running now, by name.
    pub fn running_pods(&self) -> Vec<String> {
        self.pods.lock().unwrap().running.keys().cloned().collect()
    }

    /// Waits until no pod runs, at most `timeout`.
    pub fn wait_until_no_pods(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while !self.running_pods().is_empty() {
            assert!(Instant::now() < deadline, "pods still run after {timeout:?}: {:?}", self.running_pods());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Every pod's log, those gone included, and the Events, for failure messages.
    pub fn logs(&self) -> String {
        let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(self.client.clone(), NS);
        let events = self.block_on(events.list(&ListParams::default())).map(|l| l.items).unwrap_or_default();
        let pods = self.pods.lock().unwrap();
        let mut out = pods.gone.join("\n");
        out.push_str("\n===== events =====\n");
        for e in events {
            out.push_str(&format!(
                "{} {}: {}\n",
                e.type_.unwrap_or_default(),
                e.reason.unwrap_or_default(),
                e.note.unwrap_or_default()
            ));
        }
        for (name, p) in &pods.running {
            out.push_str(&format!("\n===== {name} (running) =====\n{}", tail(&p.process.log())));
        }
        out
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop_operator();
        self.stop.store(true, Ordering::SeqCst);
        if let Some(k) = self.kubelet.take() {
            let _ = k.join();
        }
    }
}

fn tail(log: &str) -> &str {
    let start = log.len().saturating_sub(6000);
    let start = (start..log.len()).find(|i| log.is_char_boundary(*i)).unwrap_or(log.len());
    &log[start..]
}

/// Serves the in-memory API over HTTP: each request goes to the fake client as is.
async fn forward(
    axum::extract::State(client): axum::extract::State<Client>,
    request: axum::extract::Request,
) -> axum::response::Response {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
    let uri = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut builder = axum::http::Request::builder().method(parts.method.clone()).uri(uri);
    for (k, v) in &parts.headers {
        builder = builder.header(k, v);
    }
    let request = builder.body(kube::client::Body::from(bytes.to_vec())).unwrap();
    match client.send(request).await {
        Ok(response) => {
            let (parts, body) = response.into_parts();
            let bytes = body.collect_bytes().await.unwrap_or_default();
            axum::response::Response::from_parts(parts, axum::body::Body::from(bytes))
        }
        Err(e) => {
            let mut r = axum::response::Response::new(axum::body::Body::from(e.to_string()));
            *r.status_mut() = axum::http::StatusCode::INTERNAL_SERVER_ERROR;
            r
        }
    }
}

/// Runs pods as processes.
struct Kubelet {
    client: Client,
    handle: tokio::runtime::Handle,
    root: PathBuf,
    kubeconfig: PathBuf,
    pods: Arc<Mutex<Pods>>,
}

impl Kubelet {
    fn sync(&self) {
        let deployments: Api<Deployment> = Api::namespaced(self.client.clone(), NS);
        let pod_api: Api<Pod> = Api::namespaced(self.client.clone(), NS);
        let Ok(deployments) = self.handle.block_on(deployments.list(&ListParams::default())) else { return };
        let Ok(pods) = self.handle.block_on(pod_api.list(&ListParams::default())) else { return };
        let mut wanted: BTreeMap<String, (Option<String>, String, PodSpec, Option<Pod>)> = BTreeMap::new();
        let mut template_labels: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for d in &deployments.items {
            let Some(spec) = &d.spec else { continue };
            let template = &spec.template;
            let labels = template.metadata.as_ref().and_then(|m| m.labels.clone()).unwrap_or_default();
            template_labels.insert(d.name_any(), labels);
            let hash = template
                .metadata
                .as_ref()
                .and_then(|m| m.annotations.as_ref())
                .and_then(|a| a.get(SPEC_HASH))
                .cloned()
                .unwrap_or_default();
            for i in 0..spec.replicas.unwrap_or(1) {
                let name = format!("{}-{}-{i}", d.name_any(), &hash[..8.min(hash.len())]);
                let pod_spec = template.spec.clone().unwrap_or_default();
                wanted.insert(name, (Some(d.name_any()), hash.clone(), pod_spec, None));
            }
        }
        for p in &pods.items {
            let taskmanager = p.labels().get("app.kubernetes.io/component").map(String::as_str) == Some("taskmanager");
            if taskmanager {
                let uid = p.uid().unwrap_or_default();
                wanted.insert(p.name_any(), (None, uid, p.spec.clone().unwrap_or_default(), Some(p.clone())));
            }
        }
        // Stop what is no longer wanted (or wanted in another version) first: Recreate.
        let stale: Vec<String> = {
            let pods = self.pods.lock().unwrap();
            pods.running
                .iter()
                .filter(|(name, r)| wanted.get(*name).is_none_or(|(_, version, ..)| *version != r.version))
                .map(|(name, _)| name.clone())
                .collect()
        };
        for name in stale {
            self.stop_pod(&name);
        }
        let mut ready_per_deployment: BTreeMap<String, i32> = BTreeMap::new();
        for (name, (deployment, version, spec, pod)) in wanted {
            let exited = {
                let mut pods = self.pods.lock().unwrap();
                pods.running.get_mut(&name).is_some_and(|r| r.process.exit_status().is_some())
            };
            if exited {
                // restartPolicy Always: the kubelet starts it again.
                self.stop_pod(&name);
            }
            let present = self.pods.lock().unwrap().running.contains_key(&name);
            if !present {
                match self.start_pod(&name, deployment.clone(), version, spec) {
                    Ok(running) => {
                        if deployment.is_some() {
                            let mut object = Pod::default();
                            object.metadata.name = Some(name.clone());
                            let d = deployment.clone().unwrap_or_default();
                            object.metadata.labels = template_labels.get(&d).cloned();
                            let _ = self.handle.block_on(pod_api.create(&PostParams::default(), &object));
                        }
                        self.pods.lock().unwrap().running.insert(name.clone(), running);
                    }
                    Err(why) => {
                        eprintln!("kubelet: pod {name} not started yet: {why}");
                        continue;
                    }
                }
            }
            let health = self.pods.lock().unwrap().running.get(&name).map(|r| r.health.clone());
            let ready = health.is_some_and(|h| healthy(&h));
            if let Some(d) = &deployment {
                *ready_per_deployment.entry(d.clone()).or_default() += i32::from(ready);
            }
            if let Some(pod) = pod {
                let was_ready = pod
                    .status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
                if was_ready != ready {
                    let status = json!({"status": {"phase": "Running", "conditions": [
                        {"type": "Ready", "status": if ready { "True" } else { "False" }}
                    ]}});
                    let _ = self.handle.block_on(pod_api.patch_status(
                        &name,
                        &PatchParams::default(),
                        &Patch::Merge(&status),
                    ));
                }
            }
        }
        let deployment_api: Api<Deployment> = Api::namespaced(self.client.clone(), NS);
        for d in &deployments.items {
            let ready = ready_per_deployment.get(&d.name_any()).copied().unwrap_or(0);
            if d.status.as_ref().and_then(|s| s.ready_replicas).unwrap_or(0) != ready {
                let status = json!({"status": {"readyReplicas": ready, "replicas": ready}});
                let _ = self.handle.block_on(deployment_api.patch_status(
                    &d.name_any(),
                    &PatchParams::default(),
                    &Patch::Merge(&status),
                ));
            }
        }
    }

    /// Stops a pod: SIGTERM, then SIGKILL after 10 s (the grace period); removes a JobManager
    /// pod's object.
    fn stop_pod(&self, name: &str) {
        let Some(mut running) = self.pods.lock().unwrap().running.remove(name) else { return };
        if running.process.exit_status().is_none() {
            // It may exit meanwhile: a failed kill is fine.
            let _ = std::process::Command::new("kill").args(["-TERM", &running.process.id().to_string()]).status();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while running.process.exit_status().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let log = format!(
            "===== {name} (stopped after {:?}) =====\n{}",
            running.started.elapsed(),
            tail(&running.process.log())
        );
        drop(running.process);
        self.pods.lock().unwrap().gone.push(log);
        if running.deployment.is_some() {
            let pods: Api<Pod> = Api::namespaced(self.client.clone(), NS);
            let _ = self.handle.block_on(pods.delete(name, &DeleteParams::default()));
        }
    }

    fn stop_all(&self) {
        let names: Vec<String> = self.pods.lock().unwrap().running.keys().cloned().collect();
        for name in names {
            self.stop_pod(&name);
        }
    }

    /// Starts a pod's first container as a process: environment resolved, the ConfigMap volume
    /// written to a directory, hosts and ports rewritten to 127.0.0.1 and free ports.
    fn start_pod(
        &self,
        name: &str,
        deployment: Option<String>,
        version: String,
        spec: PodSpec,
    ) -> Result<Running, String> {
        let container = spec.containers.first().ok_or("no container")?;
        let mut env: Vec<(String, String)> = Vec::new();
        for e in container.env.iter().flatten() {
            let value = match (&e.value, &e.value_from) {
                (Some(v), _) => v.clone(),
                (None, Some(from)) => {
                    if let Some(field) = &from.field_ref {
                        match field.field_path.as_str() {
                            "status.podIP" => "127.0.0.1".into(),
                            "metadata.name" => name.into(),
                            "metadata.namespace" => NS.into(),
                            other => return Err(format!("unsupported fieldRef {other}")),
                        }
                    } else if let Some(key) = &from.secret_key_ref {
                        let secrets: Api<Secret> = Api::namespaced(self.client.clone(), NS);
                        let secret = self
                            .handle
                            .block_on(secrets.get(&key.name))
                            .map_err(|e| format!("Secret {}: {e}", key.name))?;
                        let bytes =
                            secret.data.and_then(|d| d.get(&key.key).cloned()).ok_or(format!("no key {}", key.key))?;
                        String::from_utf8(bytes.0).map_err(|e| e.to_string())?
                    } else {
                        return Err("unsupported valueFrom".into());
                    }
                }
                _ => String::new(),
            };
            env.push((e.name.clone(), value));
        }
        env.push(("KUBECONFIG".into(), self.kubeconfig.display().to_string()));
        static STARTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let start = STARTS.fetch_add(1, Ordering::Relaxed);
        let dir = self.root.join("pods").join(format!("{name}-{start}"));
        let config_dir = dir.join("config");
        std::fs::create_dir_all(&config_dir).unwrap();
        let (rpc_port, rest_port, metrics_port) = (free_port(), free_port(), free_port());
        for volume in spec.volumes.iter().flatten() {
            let Some(source) = &volume.config_map else { continue };
            let maps: Api<ConfigMap> = Api::namespaced(self.client.clone(), NS);
            let map =
                self.handle.block_on(maps.get(&source.name)).map_err(|e| format!("ConfigMap {}: {e}", source.name))?;
            for (file, text) in map.data.unwrap_or_default() {
                let text = text.replace(IMAGE_DATA, &image_data());
                let mut config: Value = serde_saphyr::from_str(&text).map_err(|e| e.to_string())?;
                for (section, port) in [("rpc", rpc_port), ("rest", rest_port), ("metrics", metrics_port)] {
                    config[section]["port"] = json!(port);
                    config[section]["bind"] = json!("127.0.0.1");
                }
                config["data"]["port"] = json!(0);
                std::fs::write(config_dir.join(file), serde_saphyr::to_string(&config).unwrap()).unwrap();
            }
        }
        let expand = |arg: &str| {
            let mut out = arg.replace(CONFIG_DIR, &config_dir.display().to_string()).replace(IMAGE_DATA, &image_data());
            for (k, v) in &env {
                out = out.replace(&format!("$({k})"), v);
            }
            out
        };
        let mut args: Vec<String> = container.args.iter().flatten().map(|a| expand(a)).collect();
        for i in 1..args.len() {
            match args[i - 1].as_str() {
                "--metrics-port" => args[i] = metrics_port.to_string(),
                // The pod's own /tmp (an emptyDir), not the host's.
                "--metrics-port-file" => args[i] = dir.join("metrics-port").display().to_string(),
                "--jobmanager-address" => {
                    let service = args[i].split(':').next().unwrap_or_default().to_string();
                    let pods = self.pods.lock().unwrap();
                    let rpc = pods
                        .running
                        .values()
                        .filter(|p| p.deployment.as_ref() == Some(&service))
                        .find_map(|p| p.rpc.clone())
                        .ok_or(format!("the Service {service} has no endpoint yet"))?;
                    args[i] = rpc;
                }
                _ => {}
            }
        }
        let jobmanager = deployment.is_some();
        let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let arg_refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let process = Process::start(&arg_refs, &env_refs);
        let (health, rest, rpc) = if jobmanager {
            let rest = format!("http://127.0.0.1:{rest_port}");
            (format!("{rest}/healthz"), Some(rest), Some(format!("127.0.0.1:{rpc_port}")))
        } else {
            (format!("http://127.0.0.1:{metrics_port}/healthz"), None, None)
        };
        Ok(Running { deployment, version, process, rpc, health, rest, started: Instant::now() })
    }
}

fn healthy(url: &str) -> bool {
    let agent: ureq::Agent =
        ureq::Agent::config_builder().timeout_global(Some(Duration::from_millis(500))).build().into();
    agent.get(url).call().is_ok()
}
