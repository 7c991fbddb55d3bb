//! The README's first command, `./ferroflink run ...`, on a machine with Rust and nothing else: run
//! with a `PATH` that holds only the shell's basic tools and stubs of `cargo`, `apt-get`, `dpkg` and
//! `sudo` that record what they are asked, and with the package checks pointed at an empty prefix
//! (`FERROFLINK_SETUP_ROOT`). It must install the C/C++ compiler, libclang and protoc, through
//! `sudo` when not root and directly as root, then build the release binary and run it with the
//! arguments given; without `apt-get` it must stop and say what to install.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn script(path: &Path, body: &str) {
    std::fs::write(path, format!("#!/bin/sh\n{body}\n")).unwrap();
    let mut perms = std::fs::metadata(path).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(path, perms).unwrap();
}

/// A fresh machine: `tools` holds links to the basic commands the scripts use (and no compiler,
/// protoc or cargo), `stubs` the recording stubs; returns the output and the calls recorded.
fn fresh_machine(name: &str, uid: u32, with_apt: bool) -> (Output, String) {
    let root = std::env::temp_dir().join(format!("ff-setup-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let (tools, stubs, empty, target) =
        (root.join("tools"), root.join("stubs"), root.join("empty"), root.join("target"));
    for d in [&tools, &stubs, &empty] {
        std::fs::create_dir_all(d).unwrap();
    }
    for tool in [
        "bash", "sh", "grep", "sed", "sort", "wc", "cut", "paste", "tail", "mktemp", "rm", "sleep", "dirname", "cat",
        "mkdir", "chmod",
    ] {
        let found = Command::new("sh").args(["-c", &format!("command -v {tool}")]).output().unwrap();
        let path = String::from_utf8(found.stdout).unwrap();
        std::os::unix::fs::symlink(path.trim(), tools.join(tool)).unwrap();
    }
    let log = root.join("calls");
    let record = format!("echo \"$(basename \"$0\") $*\" >> {}", log.display());
    script(&stubs.join("basename"), "echo \"${1##*/}\"");
    script(&stubs.join("id"), &format!("[ \"$1\" = -u ] && echo {uid}"));
    script(&stubs.join("dpkg"), "exit 1");
    script(&stubs.join("sudo"), &format!("{record}\nexec \"$@\""));
    if with_apt {
        script(&stubs.join("apt-get"), &record);
    }
    // cargo: `tree` lists two crates; `build` "compiles" the binary, a script echoing its arguments.
    let bin = target.join("release/ferroflink");
    script(
        &stubs.join("cargo"),
        &format!(
            "{record}\ncase \"$1\" in\n  tree) printf 'a v1\\nb v1\\n' ;;\n  build) mkdir -p {dir}; \
             printf '#!/bin/sh\\necho \"ran: $*\"\\n' > {bin}; chmod +x {bin} ;;\nesac",
            dir = bin.parent().unwrap().display(),
            bin = bin.display()
        ),
    );
    let output = Command::new(repo().join("ferroflink"))
        .args(["run", "wordcount", "--input", "worker/data/hamlet.txt"])
        .env_clear()
        .env("PATH", format!("{}:{}", stubs.display(), tools.display()))
        .env("HOME", &root)
        .env("FERROFLINK_SETUP_ROOT", &empty)
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .unwrap();
    let calls = std::fs::read_to_string(&log).unwrap_or_default();
    (output, calls)
}

#[test]
fn the_quick_start_installs_what_a_fresh_machine_lacks_then_builds_and_runs() {
    for (name, uid) in [("user", 1000), ("root", 0)] {
        let (out, calls) = fresh_machine(name, uid, true);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{name}: {stderr}\ncalls:\n{calls}");
        let sudo =
            if uid == 0 { "" } else { "sudo apt-get install -y -qq build-essential libclang-dev protobuf-compiler\n" };
        let want = format!("{sudo}apt-get install -y -qq build-essential libclang-dev protobuf-compiler\n");
        assert!(calls.contains(&want), "{name}: expected\n{want}in\n{calls}");
        assert!(calls.contains("cargo build --release --locked -p ferroflink --bin ferroflink"), "{calls}");
        assert!(stderr.contains("installing system packages: build-essential libclang-dev protobuf-compiler"));
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ran: run wordcount --input worker/data/hamlet.txt");
    }
}

#[test]
fn without_apt_the_quick_start_says_what_to_install() {
    let (out, calls) = fresh_machine("no-apt", 1000, false);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("missing: build-essential libclang-dev protobuf-compiler"), "{stderr}");
    assert!(stderr.contains("libclang"), "{stderr}");
    assert!(!calls.contains("cargo build"), "nothing is built: {calls}");
}
