#!/usr/bin/env python3
"""Time from losing a TaskManager to records flowing again, with default settings.

Starts a JobManager and three TaskManagers (two slots each) on 127.0.0.1, runs Nexmark tumble-count
at parallelism 4 (so it spans two TaskManagers; the third is spare) with 1 s checkpoints, waits for
two completed checkpoints, then kills (SIGKILL) or freezes (SIGSTOP) one TaskManager that runs
tasks, and measures until the restarted job's sources read records again.

    cargo build --release -p ferroflink && bench/failover.py [runs]
"""
import json, os, re, signal, subprocess, sys, tempfile, time, urllib.request

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


def run(sig):
    tmp = tempfile.mkdtemp()
    procs = []
    try:
        jm_log = open(os.path.join(tmp, "jm.log"), "w+")
        procs.append(subprocess.Popen([BIN, "jobmanager", "--bind", "127.0.0.1", "--rpc-port", "0", "--rest-port", "0",
                                       "--checkpoint-dir", os.path.join(tmp, "ck")], stderr=jm_log))
        line = wait(lambda: next((l for l in open(jm_log.name) if "web UI on" in l), None), "the JobManager")
        rpc = re.search(r"RPC on ([^,]+),", line).group(1)
        rest = line.split("web UI on ")[1].strip()
        tms = {}
        for _ in range(3):
            p = subprocess.Popen([BIN, "taskmanager", "--jobmanager-address", rpc, "--slots", "2", "--bind", "127.0.0.1",
                                  "--metrics-port", "0"], stderr=subprocess.DEVNULL)
            procs.append(p)
            tms[p.pid] = p
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

        def flowing():
            j = get(f"{rest}/jobs/{job}")
            return j["state"] == "RUNNING" and j["vertices"][0]["metrics"]["read-records"] > 0
        wait(flowing, "records flowing again")
        return noticed - lost, time.time() - lost
    finally:
        for p in procs:
            p.kill()
            p.wait()


def main():
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    for name, sig in [("SIGKILL", signal.SIGKILL), ("SIGSTOP", signal.SIGSTOP)]:
        results = [run(sig) for _ in range(runs)]
        detect = ", ".join(f"{d:.2f}" for d, _ in results)
        flow = ", ".join(f"{f:.2f}" for _, f in results)
        print(f"{name}: detected after {detect} s; records flowing again after {flow} s")


if __name__ == "__main__":
    main()
