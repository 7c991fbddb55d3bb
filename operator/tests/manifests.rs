//! What ships for Kubernetes passes the tools people check it with: rendered objects validate
//! against the Kubernetes schemas with `kubernetes-validate --strict`, the Dockerfile passes
//! `hadolint`, and the image is built with the documented build command. The tools come from PyPI
//! (`.ci/setup` installs them).

use ferroflink_operator::crd::FlinkJob;
use ferroflink_operator::render::render;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository this test runs from (read at run time: a build cache shared by clones must not
/// point the test at another clone's files).
fn repo() -> PathBuf {
    let crate_dir = std::env::var_os("CARGO_MANIFEST_DIR").expect("run by cargo test");
    Path::new(&crate_dir).parent().unwrap().to_path_buf()
}

fn tool(name: &str, args: &[&str]) -> std::process::Output {
    Command::new(name)
        .args(args)
        .current_dir(repo())
        .output()
        .unwrap_or_else(|e| panic!("{name} is needed for this test ({e}); run .ci/setup to install it"))
}

#[test]
fn rendered_examples_validate_against_kubernetes_schemas() {
    let dir = std::env::temp_dir().join(format!("ff-render-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(repo().join("manifests/examples")).unwrap() {
        let path = entry.unwrap().path();
        let job: FlinkJob = serde_saphyr::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let out = dir.join(path.file_name().unwrap());
        std::fs::write(&out, render(&job).unwrap().to_yaml().unwrap()).unwrap();
        let result =
            tool("kubernetes-validate", &["--strict", "--kubernetes-version", "1.32.0", out.to_str().unwrap()]);
        let report = String::from_utf8_lossy(&result.stdout).to_string() + &String::from_utf8_lossy(&result.stderr);
        assert!(result.status.success(), "{}: {report}", path.display());
        assert!(!report.contains("WARN") && !report.contains("ERROR"), "{}: {report}", path.display());
        assert!(report.contains("passed for resource pod/"), "{report}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The build stage's `cargo build` command with the build arguments `args` (`JOB_PACKAGE`,
/// `JOB_BINARY`) given, their defaults otherwise; and where it copies the job binary from.
fn dockerfile_build(args: &[(&str, &str)]) -> (String, String) {
    let dockerfile = std::fs::read_to_string(repo().join("Dockerfile")).unwrap();
    let value = |name: &str| {
        let given = args.iter().find(|(n, _)| *n == name).map(|(_, v)| v.to_string());
        let default = dockerfile.lines().find_map(|l| l.strip_prefix(&format!("ARG {name}=")).map(str::to_string));
        given.or(default).unwrap_or_else(|| panic!("the Dockerfile has no ARG {name}"))
    };
    let (package, binary) = (value("JOB_PACKAGE"), value("JOB_BINARY"));
    let run = dockerfile.replace("\\\n", " ");
    let command =
        run.lines().find_map(|l| l.strip_prefix("RUN cargo build")).expect("the build stage runs cargo build");
    let (build, copy) = command.split_once("&&").expect("the build stage copies the job binary");
    let expand = |s: &str| {
        let s = s.replace("${JOB_PACKAGE}", &package).replace("${JOB_BINARY}", &binary).replace('"', "");
        s.split_whitespace().collect::<Vec<_>>().join(" ")
    };
    let source = expand(copy).split(' ').nth(1).expect("cp <binary> <destination>").to_string();
    (format!("cargo build {}", expand(build)), source)
}

#[test]
fn dockerfile_passes_hadolint_and_uses_the_documented_build() {
    let result = tool("hadolint", &["Dockerfile"]);
    assert!(result.status.success(), "{}", String::from_utf8_lossy(&result.stdout));
    let (build, source) = dockerfile_build(&[]);
    assert_eq!(source, "target/release/ferroflink");
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    assert!(readme.lines().any(|l| l.trim() == build), "README.md documents `{build}`");
}

/// The image of your own jobs: the build stage's command, with the example crate's package and
/// binary, run here (in the test profile, whose build is cached, instead of `--release`), builds
/// the binary the image installs as `ferroflink`.
#[test]
fn the_image_build_command_builds_a_crate_of_your_own_jobs() {
    let (build, source) = dockerfile_build(&[("JOB_PACKAGE", "custom-job"), ("JOB_BINARY", "custom-job")]);
    assert_eq!(build, "cargo build --release --locked -p custom-job -p ferroflink-operator");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let args: Vec<&str> = build.split(' ').skip(1).filter(|a| *a != "--release").collect();
    let status = Command::new(cargo).args(&args).current_dir(repo()).status().unwrap();
    assert!(status.success(), "{build} failed");
    // target/<profile>/deps/<this test> -> target/<profile>/custom-job, as target/release/... in the image.
    let exe = std::env::current_exe().unwrap();
    let built = exe.parent().and_then(Path::parent).unwrap().join(Path::new(&source).file_name().unwrap());
    let jobs = Command::new(&built).arg("jobs").output().unwrap();
    assert!(String::from_utf8_lossy(&jobs.stdout).contains("length-count"), "{}", built.display());
}

#[test]
fn install_bundle_validates_and_matches_the_chart_and_crd() {
    let result = tool("kubernetes-validate", &["--strict", "--kubernetes-version", "1.32.0", "manifests/install.yaml"]);
    let report = String::from_utf8_lossy(&result.stdout).to_string() + &String::from_utf8_lossy(&result.stderr);
    assert!(result.status.success() && !report.contains("WARN"), "{report}");
    for kind in ["customresourcedefinition/", "clusterrole/", "deployment/", "serviceaccount/"] {
        assert!(report.contains(&format!("passed for resource {kind}")), "{kind}: {report}");
    }
    let install = std::fs::read_to_string(repo().join("manifests/install.yaml")).unwrap();
    let crd = std::fs::read_to_string(repo().join("crds/flinkjob.yaml")).unwrap();
    assert!(
        install.contains(crd.trim_end()),
        "manifests/install.yaml is stale: run python3 manifests/generate-install.py"
    );
    let role = std::fs::read_to_string(repo().join("charts/ferroflink/templates/rbac/clusterrole.yaml")).unwrap();
    let rules = &role[role.find("rules:").unwrap()..];
    assert!(
        install.contains(rules.trim_end()),
        "manifests/install.yaml is stale: run python3 manifests/generate-install.py"
    );
}
