#!/usr/bin/env python3
"""Cross-check and sanity-check the Flink golden files.

1. Re-computes all six outputs with a small, independent Python model of
   Flink's WindowOperator + EventTimeTrigger semantics (as documented in
   ../README.md) and checks that it agrees exactly (as sorted multisets) with
   the files Flink produced.  This guards against the README's description
   drifting from what Flink actually does.
2. Checks the properties the scenario is designed to exercise and prints one
   example of each: non-empty late output (tumbling, session), a tumbling
   window that fires more than once, and a session merge caused by an
   out-of-order event that bridges two existing sessions.

Usage: check_golden.py [events.csv] [dir with the six golden files]
Exit status 1 if anything does not hold.  Standard library only.
"""
import collections
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
BOUND = 2000          # out-of-orderness; watermark = max_ts - BOUND - 1
MIN_LONG = -(2 ** 63)
MAX_LONG = 2 ** 63 - 1

PIPELINES = {
    # name: (kind, size, slide, allowed_lateness)
    "tumbling": ("tumbling", 5000, None, 3000),
    "sliding": ("sliding", 6000, 2000, 2000),
    "session": ("session", 3000, None, 1000),
}


def read_events(path):
    out = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                k, t, v = line.split(",")
                out.append((k, int(t), int(v)))
    return out


def model(events, kind, size, slide, lateness, trace=None):
    """Returns (firings, late) as lists of output lines (unsorted)."""
    wm = MIN_LONG
    max_ts = None
    fired, late = [], []
    acc = {}                                  # (key, start, end) -> [count, sum]
    timers = set()                            # (time, key, start, end, what)
    sessions = collections.defaultdict(set)   # key -> live session windows

    def emit(key, w):
        c = acc.get((key,) + w)
        if c:
            fired.append(f"{key},{w[0]},{w[1]},{c[0]},{c[1]}")

    def window_is_late(w):
        return w[1] - 1 + lateness <= wm

    def add_to_window(key, w, v):
        c = acc.setdefault((key,) + w, [0, 0])
        c[0] += 1
        c[1] += v
        if w[1] - 1 <= wm:                    # EventTimeTrigger.onElement
            emit(key, w)
        else:
            timers.add((w[1] - 1, key, w[0], w[1], "fire"))
        timers.add((w[1] - 1 + lateness, key, w[0], w[1], "cleanup"))

    def advance(new_wm):
        nonlocal wm
        if new_wm <= wm:
            return
        wm = new_wm
        while True:
            due = [t for t in timers if t[0] <= wm]
            if not due:
                return
            t = min(due)
            timers.discard(t)
            _, key, s, e, what = t
            w = (s, e)
            if kind == "session" and w not in sessions[key]:
                continue
            if what == "fire":
                emit(key, w)
            else:
                acc.pop((key,) + w, None)
                sessions[key].discard(w)

    for idx, (key, ts, v) in enumerate(events, 1):
        added = False
        if kind == "session":
            live = sessions[key]
            new = (ts, ts + size)
            hit = sorted(w for w in live if w[0] <= new[1] and new[0] <= w[1])
            merged = (min([new[0]] + [w[0] for w in hit]), max([new[1]] + [w[1] for w in hit]))
            if hit:
                total = [0, 0]
                for w in hit:
                    c = acc.pop((key,) + w, None)
                    if c:
                        total[0] += c[0]
                        total[1] += c[1]
                    live.discard(w)
                    timers.discard((w[1] - 1, key, w[0], w[1], "fire"))
                    timers.discard((w[1] - 1 + lateness, key, w[0], w[1], "cleanup"))
                if total[0]:
                    acc[(key,) + merged] = total
                if merged[1] - 1 > wm:        # EventTimeTrigger.onMerge
                    timers.add((merged[1] - 1, key, merged[0], merged[1], "fire"))
                if trace is not None and len(hit) >= 2:
                    trace.append((idx, key, ts, v, max_ts, wm, hit, merged))
            if window_is_late(merged):
                live.discard(merged)
            else:
                live.add(merged)
                added = True
                add_to_window(key, merged, v)
        else:
            if kind == "tumbling":
                windows = [(ts - ts % size, ts - ts % size + size)]
            else:
                windows = []
                s = ts - ts % slide
                while s > ts - size:
                    windows.append((s, s + size))
                    s -= slide
            for w in windows:
                if window_is_late(w):
                    continue
                added = True
                add_to_window(key, w, v)
        if not added and ts + lateness <= wm:
            late.append(f"{key},{ts},{v}")
        max_ts = ts if max_ts is None else max(max_ts, ts)
        advance(max_ts - BOUND - 1)           # watermark after every event
    advance(MAX_LONG)                         # end of input
    return fired, late


def read_lines(path):
    with open(path) as f:
        return [l.rstrip("\n") for l in f if l.strip()]


def main():
    events_path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "events.csv")
    gold = sys.argv[2] if len(sys.argv) > 2 else HERE
    events = read_events(events_path)
    ok = True
    gold_lines = {}

    for name, (kind, size, slide, lateness) in PIPELINES.items():
        fired, late = model(events, kind, size, slide, lateness)
        g_fired = read_lines(os.path.join(gold, f"{name}.csv"))
        g_late = read_lines(os.path.join(gold, f"{name}_late.csv"))
        gold_lines[name] = (g_fired, g_late)
        same = sorted(fired) == sorted(g_fired) and sorted(late) == sorted(g_late)
        print(f"{name:9s} flink: {len(g_fired):4d} firings {len(g_late):3d} late | "
              f"model: {len(fired):4d} firings {len(late):3d} late | {'MATCH' if same else 'MISMATCH'}")
        if not same:
            ok = False
            for label, a, b in (("firings", fired, g_fired), ("late", late, g_late)):
                ca, cb = collections.Counter(a), collections.Counter(b)
                print(f"  {label} only in model: {sorted((ca - cb).elements())[:10]}")
                print(f"  {label} only in flink: {sorted((cb - ca).elements())[:10]}")

    # --- scenario properties ---
    for name in ("tumbling", "session"):
        if not gold_lines[name][1]:
            print(f"FAIL: {name}_late.csv is empty")
            ok = False
    counts = collections.Counter(tuple(l.split(",")[:3]) for l in gold_lines["tumbling"][0])
    multi = sorted(w for w, n in counts.items() if n > 1)
    print(f"tumbling windows that fired more than once: {len(multi)}")
    if multi:
        w = multi[0]
        print("  e.g. " + " / ".join(l for l in sorted(gold_lines['tumbling'][0]) if tuple(l.split(',')[:3]) == w))
    else:
        print("FAIL: no tumbling window fired more than once")
        ok = False
    trace = []
    model(events, "session", 3000, None, 1000, trace=trace)
    print(f"session merges where an out-of-order event bridged >= 2 existing sessions: {len(trace)}")
    if trace:
        idx, key, ts, v, mx, wm, hit, merged = trace[0]
        finals = [l for l in gold_lines["session"][0]
                  if l.split(",")[0] == key and int(l.split(",")[1]) <= merged[0] and int(l.split(",")[2]) >= merged[1]]
        print(f"  e.g. events.csv line {idx} '{key},{ts},{v}' (max ts so far {mx}, watermark {wm}) "
              f"merged sessions {hit} into {list(merged)}; final session line(s): {finals}")
    else:
        print("FAIL: no bridging session merge")
        ok = False
    print("OK" if ok else "CHECK FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
