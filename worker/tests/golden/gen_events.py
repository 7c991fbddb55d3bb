#!/usr/bin/env python3
"""Deterministic generator for the window golden-test input (events.csv).

Writes lines ``key,ts,value`` (no header) in *arrival order*.  Uses only the
standard library ``random`` module with a fixed seed, so the output is
byte-for-byte reproducible.

Shape of the stream:
  * keys a..e, each with its own event-time timeline in [0, 60000] ms
    (exponential inter-event times, mean MEAN_STEP), with 4 deliberate
    per-key silences (3.3-7 s, longer than the 3 s session gap) so session
    windows form separately;
  * for two silences per key a "bridge" event is placed in the middle of the
    silence and delivered right after the first (non-straggler) event that
    follows the silence, so it arrives when both neighbouring sessions exist
    and merges them into one;
  * for one silence per key an event just before the silence is delivered
    8-9 s late, after the preceding session was fired and purged (late data
    for the session pipeline); the fourth silence is left alone;
  * arrival order = sort by (ts + delay), where delay is a jitter of
    0-1500 ms for normal events and 2000-9000 ms for ~8% "straggler" events
    (some of which are still within allowed lateness, some beyond it).
"""
import os
import random

SEED = 6
KEYS = ["a", "b", "c", "d", "e"]
T_MAX = 60000
MEAN_STEP = 720          # mean per-key inter-event time (ms)
STRAGGLER_RATE = 0.08


def main() -> None:
    rng = random.Random(SEED)
    events = []  # (arrival_key, seq, key, ts, value)
    seq = 0

    def add(key, ts, delay):
        nonlocal seq
        events.append((ts + delay, seq, key, ts, rng.randint(1, 100)))
        seq += 1
        return ts + delay

    for key in KEYS:
        # four well-separated per-key silences (> the 3 s session gap)
        kinds = ["bridge", "bridge", "straggler", "plain"]
        rng.shuffle(kinds)
        silences = []
        for i, kind in enumerate(kinds):
            start = 3000 + i * 13000 + rng.randint(0, 5000)
            if kind == "bridge":
                length = rng.randint(3300, 4000)
            else:
                length = rng.randint(4000, 7000)
            silences.append((start, start + length, kind))
        pending_bridge = None  # ts of a bridge event waiting to be delivered
        t = rng.randint(0, 800)
        while t <= T_MAX:
            hit = None
            for s, e, kind in silences:
                if s <= t < e:
                    hit = (s, e, kind)
                    break
            if hit is not None:
                s, e, kind = hit
                if kind == "bridge":
                    # event in the middle of the silence, delivered only after
                    # the first event following the silence (see below): it
                    # bridges (merges) the two sessions around the silence
                    pending_bridge = (s + e) // 2 + rng.randint(-200, 200)
                elif kind == "straggler":
                    # very late straggler just before the silence: by the time
                    # it arrives the preceding session has been fired and
                    # purged, so it goes to the late side output
                    add(key, s - rng.randint(200, 1200), rng.randint(8000, 9000))
                t = e + rng.randint(0, 400)
                continue
            straggler = rng.random() < STRAGGLER_RATE
            if straggler:
                delay = rng.randint(2000, 9000)
            else:
                delay = rng.randint(0, 1500)
            arrival = add(key, t, delay)
            if pending_bridge is not None and not straggler:
                add(key, pending_bridge, arrival + rng.randint(1, 600) - pending_bridge)
                pending_bridge = None
            t += max(50, int(rng.expovariate(1.0 / MEAN_STEP)))

    events.sort(key=lambda e: (e[0], e[1]))
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "events.csv")
    with open(out, "w") as f:
        for _, _, key, ts, value in events:
            f.write(f"{key},{ts},{value}\n")


if __name__ == "__main__":
    main()
