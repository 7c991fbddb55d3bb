#!/usr/bin/env python3
"""Time from losing a TaskManager, or the leading JobManager, to records flowing again.

TaskManagers: starts a JobManager and three TaskManagers (two slots each) on 127.0.0.1, runs Nexmark
tumble-count at parallelism 4 (so it spans two TaskManagers; the third is spare) with 1 s
checkpoints, waits for two completed checkpoints, then kills (SIGKILL) or freezes (SIGSTOP) one
TaskManager that runs tasks, and measures until the restarted job's sources read records again.

JobManager: two JobManagers with file HA given the same job (application mode), two TaskManagers
that find the leader through the HA records; after two checkpoints the leader is killed (SIGKILL)
and the time is measured until the standby leads (its /readyz answers 200) and until the resumed
job's sources read records again. With the default lease (ha.lease-duration 15s) and with 5s.

    cargo build --release --locked -p ferroflink -p ferroflink-operator && bench/failover.py [runs]
"""
import json, os, re, signal, subprocess, sys, tempfile, time, urllib.error, urllib.request

BIN = os.environ.get("BIN", "target/release/ferroflink")


def get(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.load(r)


def wait(pred, what, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.005)
    raise SystemExit(f"timed out waiting for {what}")


def jobmanager(procs, log_path, args, env=None):
    """Starts a JobManager on free ports; answers its RPC address and REST URL."""
    log = open(log_path, "w+")
    procs.append(subprocess.Popen([BIN, "jobmanager", "--bind", "127.0.0.1", "--rpc-port", "0", "--rest-port", "0"]
                                  + args, stderr=log, env=env))
    line = wait(lambda: next((l for l in open(log.name) if "web UI on" in l), None), "a JobManager")
    return re.search(r"RPC on ([^,]+),", line).group(1), line.split("web UI on ")[1].strip()


def taskmanagers(procs, n, how):
    for _ in range(n):
        procs.append(subprocess.Popen([BIN, "taskmanager", "--slots", "2", "--bind", "127.0.0.1", "--metrics-port", "0"]
                                      + how, stderr=subprocess.DEVNULL))


def flowing(rest, job):
    """Whether the job runs and its sources read records (in the current attempt)."""
    j = get(f"{rest}/jobs/{job}")
    return j["state"] == "RUNNING" and j["vertices"][0]["metrics"]["read-records"] > 0


def stop(procs):
    for p in procs:
        p.kill()
        p.wait()


def run(sig):
    tmp = tempfile.mkdtemp()
    procs = []
    try:
        rpc, rest = jobmanager(procs, os.path.join(tmp, "jm.log"), ["--checkpoint-dir", os.path.join(tmp, "ck")])
        taskmanagers(procs, 3, ["--jobmanager-address", rpc])
        wait(lambda: get(rest + "/overview")["taskmanagers"] == 3, "three TaskManagers")
        out = subprocess.run([BIN, "submit", "--jobmanager", rest, "nexmark", "--query", "tumble-count", "--rate",
                              "200000", "--parallelism", "4", "--checkpoint-interval", "1s"],
                             check=True, capture_output=True, text=True)
        job = out.stdout.strip()
        wait(lambda: get(f"{rest}/jobs/{job}/checkpoints")["counts"]["completed"] >= 2, "two checkpoints")
        busy = [tm for tm in get(rest + "/taskmanagers")["taskmanagers"] if tm["freeSlots"] == 0]
        pid = int(busy[0]["id"].split("-")[-2])
        lost = time.time()
        os.kill(pid, sig)
        wait(lambda: get(f"{rest}/jobs/{job}")["state"] != "RUNNING", "the job to notice")
        noticed = time.time()
        wait(lambda: flowing(rest, job), "records flowing again")
        return noticed - lost, time.time() - lost
    finally:
        stop(procs)


def status(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def run_jobmanager(lease):
    tmp = tempfile.mkdtemp()
    procs = []
    env = dict(os.environ)
    if lease:
        env["FERROFLINK__HA__LEASE_DURATION"] = lease
    ha = "file:" + os.path.join(tmp, "ha")
    try:
        args = ["--ha", ha, "--checkpoint-dir", os.path.join(tmp, "ck"), "--job", "nexmark", "--query", "tumble-count",
                "--rate", "200000", "--parallelism", "4", "--checkpoint-interval", "1s"]
        _, rest = jobmanager(procs, os.path.join(tmp, "jm0.log"), args, env)
        leader = procs[-1]
        wait(lambda: status(rest + "/readyz") == 200, "the first JobManager to lead")
        _, standby = jobmanager(procs, os.path.join(tmp, "jm1.log"), args, env)
        taskmanagers(procs, 2, ["--ha", ha])
        job = wait(lambda: get(rest + "/jobs")["jobs"], "the job")[0]["id"]
        wait(lambda: get(f"{rest}/jobs/{job}/checkpoints")["counts"]["completed"] >= 2, "two checkpoints")
        lost = time.time()
        leader.kill()
        wait(lambda: status(standby + "/readyz") == 200, "the standby to lead", timeout=120)
        leads = time.time()
        wait(lambda: flowing(standby, job), "records flowing again")
        return leads - lost, time.time() - lost
    finally:
        stop(procs)


def main():
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    for name, sig in [("SIGKILL", signal.SIGKILL), ("SIGSTOP", signal.SIGSTOP)]:
        results = [run(sig) for _ in range(runs)]
        detect = ", ".join(f"{d:.2f}" for d, _ in results)
        flow = ", ".join(f"{f:.2f}" for _, f in results)
        print(f"TaskManager {name}: detected after {detect} s; records flowing again after {flow} s")
    for lease in [None, "5s"]:
        results = [run_jobmanager(lease) for _ in range(runs)]
        leads = ", ".join(f"{d:.2f}" for d, _ in results)
        flow = ", ".join(f"{f:.2f}" for _, f in results)
        print(f"leading JobManager SIGKILL, lease {lease or '15s (default)'}: standby leads after {leads} s; "
              f"records flowing again after {flow} s")


if __name__ == "__main__":
    main()
