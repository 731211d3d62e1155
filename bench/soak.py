#!/usr/bin/env python3
"""Soak: scrapetop headless against N loopback exporters at 1 s for a long time, with commands
sprinkled in on stdin, recording RSS and descriptors every minute.

    bench/soak.py --bin target/release/scrapetop --exporter target/release/scrapetop-testexporter \
        --targets 1000 --duration 3600 --out /tmp/soak

Everything is on loopback (127.0.14.1, ports 20000 + i, so nothing collides with the tests'
127.0.0.1:0 listeners or the demo's 127.0.0.2-.25). The fleet is the crate's own exporter
(`scrapetop-testexporter serve`), 20 lines a page.

While it runs, on stdin, at these periods (seconds):
    20  reconnect one random target          30  probe one random target
    45  re_resolve one random target         60  reload (the target file, unchanged)
    60  state (up count read from the answer)
   300  reconnect every target, then probe every target 30 s later
   600  the target file loses its last 10 targets (reload); 10 min later they come back

Every minute one JSON line goes to OUT/minutes.jsonl: RSS, peak RSS, descriptors (and sockets),
threads, CPU seconds, and the events of that minute (scrapes, failed scrapes, conns opened and
closed, probes, dropped, errors, reloads, acks). At the end OUT/summary.json and a readable
OUT/summary.txt: the figures and each check (no `dropped` event, no `error` event, every
scrape window complete, descriptors = targets + a small constant, RSS flat after warm-up).
Exit status 0 when every check passed, 1 otherwise. It stops by itself after --duration and
kills only the processes it started.
"""

import argparse
import json
import os
import random
import resource
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ADDR = "127.0.14.1"
BASE_PORT = 20000


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, file=sys.stderr, flush=True)


def proc_status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0])  # KiB
            elif k == "Threads":
                out[k] = int(v)
    return out


def proc_fds(pid):
    total = sockets = 0
    for e in os.scandir(f"/proc/{pid}/fd"):
        total += 1
        try:
            if os.readlink(e.path).startswith("socket:"):
                sockets += 1
        except OSError:
            pass
    return total, sockets


def proc_cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class Counts:
    """Events of the current minute, counted from stdout without full JSON parsing."""

    KEYS = {
        '"event":"scrape"': "scrapes",
        '"event":"conn_opened"': "conns_opened",
        '"event":"conn_closed"': "conns_closed",
        '"event":"conn_failed"': "conns_failed",
        '"event":"probe"': "probes",
        '"event":"dropped"': "dropped_events",
        '"event":"error"': "errors",
        '"event":"reload"': "reloads",
        '"event":"command_ack"': "acks",
        '"event":"target_added"': "targets_added",
        '"event":"target_removed"': "targets_removed",
    }

    def __init__(self):
        self.lock = threading.Lock()
        self.cur = {}
        self.dropped = 0
        self.samples = []  # first lines of notable events, for the summary
        self.state = None  # last state answer: (up, targets)
        self.eof = False

    def feed(self, line):
        if '"event":"state"' in line[:200]:
            try:
                st = json.loads(line)
                up = sum(1 for t in st.get("targets", []) if t.get("health") == "up")
                with self.lock:
                    self.state = (up, len(st.get("targets", [])))
            except ValueError:
                pass
            return
        for key, name in self.KEYS.items():
            if key in line:
                with self.lock:
                    self.cur[name] = self.cur.get(name, 0) + 1
                    if name == "scrapes" and '"up":false' in line:
                        self.cur["scrapes_failed"] = self.cur.get("scrapes_failed", 0) + 1
                    if name in ("dropped_events", "errors") or (
                        name == "reloads" and '"error":null' not in line and '"error"' in line
                    ):
                        if len(self.samples) < 50:
                            self.samples.append(line[:500])
                    if name == "dropped_events":
                        try:
                            self.dropped += json.loads(line).get("count", 0)
                        except ValueError:
                            pass
                return

    def take(self):
        with self.lock:
            c, self.cur = self.cur, {}
            return c


def write_targets(path, n, drop_last):
    lines = [f"{ADDR}:{BASE_PORT + i}" for i in range(n - drop_last)]
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.rename(path)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--exporter", required=True)
    ap.add_argument("--targets", type=int, default=1000)
    ap.add_argument("--duration", type=int, default=3600, help="seconds")
    ap.add_argument("--warmup", type=int, default=300, help="seconds before RSS is judged")
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--schedule-scale", type=float, default=1.0,
                    help="multiply every command period (a short trial: 0.25)")
    args = ap.parse_args()
    n = args.targets
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(args.seed)
    tfile = out / "targets.txt"
    write_targets(tfile, n, 0)

    fleet = subprocess.Popen(
        [args.exporter, "serve", ADDR, f"{BASE_PORT}-{BASE_PORT + n - 1}", "20"],
        stdout=subprocess.PIPE, text=True, preexec_fn=raise_nofile)
    started = []

    def cleanup(*_):
        for p in started + [fleet]:
            if p.poll() is None:
                p.kill()
                p.wait()

    signal.signal(signal.SIGTERM, lambda *a: (cleanup(), sys.exit(1)))
    ready = fleet.stdout.readline().strip()
    if ready != "ready":
        cleanup()
        sys.exit(f"fleet did not start: {ready!r}")
    log(f"fleet: {n} exporters on {ADDR}:{BASE_PORT}-{BASE_PORT + n - 1}")

    cmd = [args.bin, "--headless", "--targets", str(tfile), "--interval", "1s", "--timeout", "1s"]
    stderr = open(out / "scrapetop.log", "w")
    sc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
                          text=True, bufsize=1 << 16)
    started.append(sc)
    pid = sc.pid
    log(f"scrapetop pid {pid}: {' '.join(cmd)}")
    counts = Counts()

    def reader():
        for line in sc.stdout:
            counts.feed(line)
        counts.eof = True

    threading.Thread(target=reader, daemon=True).start()

    def send(obj):
        try:
            sc.stdin.write(json.dumps(obj) + "\n")
            sc.stdin.flush()
        except BrokenPipeError:
            pass

    def instance():
        return f"{ADDR}:{BASE_PORT + rng.randrange(n - 10)}"

    minutes = open(out / "minutes.jsonl", "w")
    t0 = time.monotonic()
    # (first, period) in seconds. The bulk commands never fall on a minute's sample, so the
    # descriptor count is not taken while 1,000 probes are in flight.
    schedule = {"reconnect": (20, 20), "probe": (30, 30), "re_resolve": (45, 45),
                "reload": (50, 60), "state": (55, 60), "reconnect_all": (290, 300),
                "probe_all": (330, 300), "shrink": (600, 600)}
    schedule = {k: (f * args.schedule_scale, p * args.schedule_scale)
                for k, (f, p) in schedule.items()}
    due = {k: t0 + first for k, (first, _) in schedule.items()}
    next_minute = t0 + 60
    sent = {}
    shrunk = False
    records = []
    cpu0 = proc_cpu_s(pid)
    while time.monotonic() - t0 < args.duration:
        if sc.poll() is not None:
            log(f"scrapetop exited early: {sc.returncode}")
            break
        now = time.monotonic()
        for k, at in due.items():
            if now < at:
                continue
            due[k] = at + schedule[k][1]
            sent[k] = sent.get(k, 0) + 1
            if k in ("reconnect", "probe", "re_resolve"):
                send({"cmd": k, "job": "targets", "instance": instance()})
            elif k == "reload":
                send({"cmd": "reload"})
            elif k == "state":
                send({"cmd": "state"})
            elif k == "reconnect_all":
                send({"cmd": "reconnect"})
            elif k == "probe_all":
                send({"cmd": "probe"})
            elif k == "shrink":
                shrunk = not shrunk
                write_targets(tfile, n, 10 if shrunk else 0)
                send({"cmd": "reload"})
        if now >= next_minute:
            next_minute += 60
            st = proc_status(pid)
            fds, socks = proc_fds(pid)
            c = counts.take()
            rec = {
                "minute": round((now - t0) / 60),
                "rss_kib": st.get("VmRSS"),
                "hwm_kib": st.get("VmHWM"),
                "fds": fds,
                "sockets": socks,
                "threads": st.get("Threads"),
                "cpu_s": round(proc_cpu_s(pid) - cpu0, 2),
                "targets_configured": n - (10 if shrunk else 0),
                "up": counts.state[0] if counts.state else None,
                "state_targets": counts.state[1] if counts.state else None,
                **c,
            }
            records.append(rec)
            minutes.write(json.dumps(rec) + "\n")
            minutes.flush()
            log(f"min {rec['minute']}: rss {rec['rss_kib'] // 1024} MiB, fds {fds}, "
                f"scrapes {c.get('scrapes', 0)}, failed {c.get('scrapes_failed', 0)}, "
                f"dropped {c.get('dropped_events', 0)}, errors {c.get('errors', 0)}")
        time.sleep(0.2)

    early_exit = sc.poll() is not None
    send({"cmd": "quit"})
    t_quit = time.monotonic()
    try:
        code = sc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        code = None
    quit_s = round(time.monotonic() - t_quit, 2)
    cleanup()

    checks = {}
    checks["ran the whole duration"] = not early_exit
    checks["exit 0 after quit"] = code == 0
    checks["no dropped event"] = counts.dropped == 0 and all(r.get("dropped_events", 0) == 0 for r in records)
    checks["no error event"] = all(r.get("errors", 0) == 0 for r in records)
    full = [r for r in records[1:]]
    checks["about one scrape per target per second"] = all(
        r.get("scrapes", 0) >= 0.98 * 60 * r["targets_configured"] for r in full)
    checks["descriptors = targets + a small constant"] = all(
        r["fds"] <= n + 64 for r in records)
    later = [r for r in records if r["minute"] * 60 >= args.warmup]
    if len(later) >= 4:
        q = max(1, len(later) // 4)
        first = sum(r["rss_kib"] for r in later[:q]) / q
        last = sum(r["rss_kib"] for r in later[-q:]) / q
        checks["RSS flat after warm-up (last quarter <= first quarter + 10 %)"] = last <= first * 1.10
    else:
        first = last = None
    summary = {
        "targets": n,
        "duration_s": args.duration,
        "binary": args.bin,
        "minutes": len(records),
        "commands_sent": sent,
        "rss_mib": {
            "min": min((r["rss_kib"] for r in records), default=0) / 1024,
            "max": max((r["rss_kib"] for r in records), default=0) / 1024,
            "first_quarter_after_warmup": first / 1024 if first else None,
            "last_quarter": last / 1024 if last else None,
            "peak_hwm": max((r["hwm_kib"] for r in records), default=0) / 1024,
        },
        "fds": {"min": min((r["fds"] for r in records), default=0),
                "max": max((r["fds"] for r in records), default=0)},
        "scrapes": sum(r.get("scrapes", 0) for r in records),
        "scrapes_failed": sum(r.get("scrapes_failed", 0) for r in records),
        "conns_opened": sum(r.get("conns_opened", 0) for r in records),
        "dropped": counts.dropped,
        "errors": sum(r.get("errors", 0) for r in records),
        "cpu_s": records[-1]["cpu_s"] if records else None,
        "quit_s": quit_s,
        "notable_lines": counts.samples,
        "checks": checks,
        "passed": all(checks.values()),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    lines = [f"soak: {n} targets at 1 s for {args.duration} s ({len(records)} minutes recorded)",
             f"RSS MiB: min {summary['rss_mib']['min']:.1f}, max {summary['rss_mib']['max']:.1f}, "
             f"peak {summary['rss_mib']['peak_hwm']:.1f}; fds {summary['fds']['min']}-{summary['fds']['max']}",
             f"scrapes {summary['scrapes']} ({summary['scrapes_failed']} failed), "
             f"conns opened {summary['conns_opened']}, dropped {counts.dropped}, errors {summary['errors']}, "
             f"CPU {summary['cpu_s']} s, quit took {quit_s} s",
             f"commands: {sent}"]
    lines += [f"  {'PASS' if ok else 'FAIL'}  {name}" for name, ok in checks.items()]
    (out / "summary.txt").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    sys.exit(0 if summary["passed"] else 1)


if __name__ == "__main__":
    main()
