//! Kubernetes suite for a real cluster (kind or k3d), run by hand:
//!
//! ```sh
//! docker build -t ferroflink:e2e . && kind load docker-image ferroflink:e2e
//! FERROFLINK_IMAGE=ferroflink:e2e cargo test -p ferroflink-e2e --test kubernetes -- --ignored
//! ```
//!
//! It installs the Helm chart, waits for the operator to lead, applies a FlinkJob (word count over
//! the text in the image) and checks that the operator creates its JobManager Deployment and
//! TaskManager pods and reports them in the status, that the job runs to FINISHED (the state the
//! operator reads from the JobManager's REST API), then deletes it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The repository this test runs from (read at run time: a build cache shared by clones must not
/// point the test at another clone's files).
fn repo() -> PathBuf {
    let crate_dir = std::env::var_os("CARGO_MANIFEST_DIR").expect("run by cargo test");
    Path::new(&crate_dir).parent().unwrap().to_path_buf()
}

fn run(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd).args(args).current_dir(repo()).output().unwrap_or_else(|e| panic!("{cmd}: {e}"));
    assert!(out.status.success(), "{cmd} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn eventually(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let started = Instant::now();
    while !check() {
        assert!(started.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_secs(2));
    }
}

#[test]
#[ignore = "needs cluster"]
fn operator_installs_with_helm_and_deploys_a_flinkjob() {
    let image = std::env::var("FERROFLINK_IMAGE").expect("set FERROFLINK_IMAGE to an image the cluster can pull");
    let (repository, tag) = image.rsplit_once(':').unwrap_or((&image, "latest"));
    run(
        "helm",
        &[
            "upgrade",
            "--install",
            "ferroflink",
            "charts/ferroflink",
            "--namespace",
            "ferroflink-system",
            "--create-namespace",
            "--set",
            &format!("image.repository={repository}"),
            "--set",
            &format!("image.tag={tag}"),
            "--set",
            "image.pullPolicy=IfNotPresent",
            "--wait",
        ],
    );
    // Already there from an earlier run is fine.
    let _ = Command::new("kubectl").args(["create", "namespace", "ff-e2e"]).status();
    let job = format!(
        "apiVersion: ferroflink.io/v1alpha1\nkind: FlinkJob\nmetadata: {{name: wc, namespace: ff-e2e}}\nspec:\n  image: {image}\n  job: {{name: wordcount, args: [--input, /opt/ferroflink/data/hamlet.txt], parallelism: 3}}\n  taskManager: {{slots: 2}}\n"
    );
    let file = std::env::temp_dir().join("ff-e2e-flinkjob.yaml");
    std::fs::write(&file, job).unwrap();
    run("kubectl", &["apply", "-f", file.to_str().unwrap()]);
    eventually("the JobManager Deployment", Duration::from_secs(120), || {
        Command::new("kubectl").args(["-n", "ff-e2e", "get", "deployment", "wc-jobmanager"]).status().unwrap().success()
    });
    eventually("two TaskManager pods in the status", Duration::from_secs(120), || {
        run("kubectl", &["-n", "ff-e2e", "get", "fj", "wc", "-o", "jsonpath={.status.taskManagersDesired}"]).trim()
            == "2"
    });
    let pods =
        run("kubectl", &["-n", "ff-e2e", "get", "pods", "-l", "app.kubernetes.io/component=taskmanager", "-o", "name"]);
    assert_eq!(pods.lines().count(), 2, "{pods}");
    eventually("the job to finish", Duration::from_secs(300), || {
        let state = run("kubectl", &["-n", "ff-e2e", "get", "fj", "wc", "-o", "jsonpath={.status.jobState}"]);
        let lifecycle = run("kubectl", &["-n", "ff-e2e", "get", "fj", "wc", "-o", "jsonpath={.status.lifecycleState}"]);
        state.trim() == "FINISHED" && lifecycle.trim() == "Finished"
    });
    run("kubectl", &["delete", "-f", file.to_str().unwrap(), "--wait=true"]);
    eventually("the pods to be garbage-collected", Duration::from_secs(120), || {
        run("kubectl", &["-n", "ff-e2e", "get", "pods", "-o", "name"]).trim().is_empty()
    });
}
