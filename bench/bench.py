#!/usr/bin/env python3
"""scrapetop benchmark driver (see bench/README.md). Started by bench/run.sh, which installs the
tools and owns the last-resort teardown trap; this file builds the fleet, runs every client in
turn on the same fleet and computes the figures.

Topology: two network namespaces joined by a veth pair, addresses in 10.214.0.0/30 that exist
only inside them. The fleet (nginx) listens on FLEET_IP:PORT_BASE.. in `stb-fleet`; every client
(scrapetop, Prometheus, wrk) runs in `stb-scr`. Nothing listens outside these namespaces.
"""

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import pages  # noqa: E402

NS_FLEET = "stb-fleet"
NS_SCR = "stb-scr"
FLEET_IP = "10.214.0.2"
SCR_IP = "10.214.0.1"
PORT_BASE = 20000
STATUS_BASE = 19000
# One nginx instance per SHARD ports: each worker holds SHARD listening sockets plus SHARD
# connections, and RLIMIT_NOFILE (hard 20000 here) bounds every process.
SHARD = 5000
CLK_TCK = os.sysconf("SC_CLK_TCK")
PROM_WEB = "127.0.0.1:19090"
TMUX_SOCK = "stbench"

REPO = Path(__file__).resolve().parent.parent
STARTED: list[subprocess.Popen] = []  # every process we start, ended by pid at teardown


def log(*a):
    print(f"[{time.strftime('%H:%M:%S')}]", *a, file=sys.stderr, flush=True)


def sh(*cmd, check=True, **kw):
    return subprocess.run(cmd, check=check, **kw)


def nsx(ns, *cmd):
    return ["ip", "netns", "exec", ns, *cmd]


# ---------------------------------------------------------------- /proc sampling


def proc_cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)


def proc_cpu_split(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]), int(fields[12])


def proc_status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM", "Threads"):
                out[k] = int(v.split()[0])
    return out


def proc_fds(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


def machine_busy():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return sum(v[:8]) - idle, sum(v[:8])


def loadavg():
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


class Sampler(threading.Thread):
    """Samples RSS and fds of one pid every second during the window."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.stop_ev = pid, threading.Event()
        self.rss, self.fds = [], []

    def run(self):
        while not self.stop_ev.wait(1.0):
            try:
                self.rss.append(proc_status(self.pid)["VmRSS"])
                self.fds.append(proc_fds(self.pid))
            except (OSError, KeyError):
                return


# ---------------------------------------------------------------- fleet


class Fleet:
    def __init__(self, n, lines, work):
        self.n, self.lines, self.work = n, lines, work
        self.shards = []  # (dir, popen, first_port, count)

    def start(self):
        page = self.work / f"metrics-{self.lines}.txt"
        page.write_text(pages.page(self.lines))
        first = 0
        i = 0
        while first < self.n:
            count = min(SHARD, self.n - first)
            d = self.work / f"nginx-{i}"
            (d / "logs").mkdir(parents=True, exist_ok=True)
            # A listening socket and a client connection per port. nginx starts closing idle
            # keep-alive connections once fewer than 1/16 of worker_connections are free
            # (ngx_drain_connections), so leave a quarter free.
            conns = (2 * count + 100) * 5 // 4 + 100
            listens = "\n".join(
                f"    listen {FLEET_IP}:{PORT_BASE + first + k} backlog=1024;" for k in range(count)
            )
            (d / "nginx.conf").write_text(f"""
user root;
daemon off;
worker_processes 1;
worker_rlimit_nofile {conns + 100};
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections {conns}; multi_accept on; accept_mutex off; }}
http {{
  log_format st '$server_port $msec $connection $connection_requests $status';
  access_log {d}/access.log st buffer=256k flush=1s;
  keepalive_timeout 24h;
  keepalive_time 24h;
  keepalive_requests 2000000000;
  client_header_timeout 24h;
  send_timeout 60s;
  sendfile on;
  tcp_nodelay on;
  open_file_cache max=16 inactive=24h;
  open_file_cache_valid 24h;
  types {{ }}
  default_type "text/plain; version=0.0.4; charset=utf-8";
  client_body_temp_path {d}/tmp; proxy_temp_path {d}/tmp; fastcgi_temp_path {d}/tmp;
  uwsgi_temp_path {d}/tmp; scgi_temp_path {d}/tmp;
  server {{
{listens}
    location = /metrics {{ alias {page}; }}
    location / {{ return 404; }}
  }}
  server {{
    listen {FLEET_IP}:{STATUS_BASE + i};
    access_log off;
    location / {{ stub_status; }}
  }}
}}
""")
            p = subprocess.Popen(
                nsx(NS_FLEET, "nginx", "-p", str(d), "-c", str(d / "nginx.conf")),
                stdout=subprocess.DEVNULL,
                stderr=open(d / "stderr", "w"),
                start_new_session=True,
            )
            STARTED.append(p)
            self.shards.append((d, p, first, count))
            first += count
            i += 1
        # Wait (bounded) until every status port answers.
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                self.requests()
                break
            except Exception:
                time.sleep(0.5)
        else:
            raise RuntimeError(f"nginx fleet did not come up; see {self.work}/nginx-*/error.log")
        log(f"fleet: {self.n} ports on {len(self.shards)} nginx instance(s), {self.lines}-line page")

    def ports(self):
        return range(PORT_BASE, PORT_BASE + self.n)

    def requests(self):
        """Total requests served by the fleet (stub_status, summed over shards)."""
        total = 0
        for i in range(len(self.shards)):
            out = subprocess.run(
                nsx(NS_SCR, "curl", "-s", "--max-time", "5", f"http://{FLEET_IP}:{STATUS_BASE + i}/"),
                capture_output=True, text=True, timeout=10, check=True,
            ).stdout
            m = re.search(r"^\s*(\d+)\s+(\d+)\s+(\d+)\s*$", out, re.M)
            if not m:
                raise RuntimeError(f"stub_status: {out!r}")
            total += int(m.group(3))
        return total

    def worker_pids(self):
        pids = []
        for _, p, _, _ in self.shards:
            pids += children(p.pid)
        return pids

    def log_offsets(self):
        return [(d / "access.log").stat().st_size if (d / "access.log").exists() else 0 for d, *_ in self.shards]

    def intervals(self, offsets, t0, t1, key):
        """Intervals between consecutive requests per key ('port' or 'conn'), from the access
        logs, for requests logged in [t0, t1). Also counts new connections in the window."""
        series, new_conns, statuses = {}, 0, {}
        for (d, *_), off in zip(self.shards, offsets):
            with open(d / "access.log", "rb") as f:
                f.seek(max(0, off - 65536))
                if off:
                    f.readline()
                for line in f:
                    parts = line.split()
                    if len(parts) != 5:
                        continue
                    ts = float(parts[1])
                    if ts < t0 or ts >= t1:
                        continue
                    statuses[parts[4].decode()] = statuses.get(parts[4].decode(), 0) + 1
                    if parts[3] == b"1":
                        new_conns += 1
                    k = (d.name, parts[0] if key == "port" else parts[2])
                    series.setdefault(k, []).append(ts)
        diffs = []
        for ts in series.values():
            ts.sort()
            diffs += [b - a for a, b in zip(ts, ts[1:])]
        return diffs, len(series), new_conns, statuses

    def stop(self):
        for _, p, _, _ in self.shards:
            stop_proc(p, signal.SIGQUIT)


def stop_proc(p, sig=signal.SIGTERM, wait=10):
    if p.poll() is not None:
        return
    try:
        p.send_signal(sig)
        p.wait(wait)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait(5)
    except ProcessLookupError:
        pass


def pct(xs, q):
    if not xs:
        return None
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


# ---------------------------------------------------------------- clients


class Client:
    """One client under test: start, a pid to watch, targets up at the end, stop."""

    name = ""
    interval_key = "port"

    def __init__(self, h, n):
        self.h, self.n = h, n
        self.dir = h.work / f"{self.name}-{n}-{int(time.time())}"
        self.dir.mkdir()
        self.targets = [f"{FLEET_IP}:{p}" for p in h.fleet.ports()]

    def up(self):
        return None

    def extra(self, t0, t1):
        return {}


class Headless(Client):
    name = "scrapetop"

    def start(self):
        args = [str(self.h.bin), "--headless", "--interval", "1s", "--timeout", "1s"]
        for t in self.targets:
            args += ["--target", t]
        self.out = self.dir / "events.jsonl"
        env = dict(os.environ, **dict(kv.split("=", 1) for kv in self.h.args.env))
        self.p = subprocess.Popen(
            nsx(NS_SCR, *args), stdin=subprocess.PIPE, stdout=open(self.out, "wb"), env=env,
            stderr=open(self.dir / "stderr", "wb"), start_new_session=True,
        )
        STARTED.append(self.p)
        return self.p.pid

    def up(self):
        pos = self.out.stat().st_size
        self.p.stdin.write(b'{"cmd":"state"}\n')
        self.p.stdin.flush()
        deadline = time.time() + 60
        while time.time() < deadline:
            time.sleep(0.5)
            with open(self.out, "rb") as f:
                f.seek(max(0, pos - (1 << 20)))
                for line in f:
                    # The answer is one line of tens of MB above 10,000 targets: parse it only
                    # once its newline is written (a half-written one failed at 12,000).
                    if b'"event":"state"' in line and line.endswith(b"\n"):
                        st = json.loads(line)
                        self.state_totals = st.get("totals")
                        return st["totals"]["up"]
        return None

    def stop(self):
        try:
            self.p.stdin.write(b'{"cmd":"quit"}\n')
            self.p.stdin.close()
            self.p.wait(15)
        except (BrokenPipeError, subprocess.TimeoutExpired):
            stop_proc(self.p)

    def extra(self, t0, t1):
        """Intervals as scrapetop itself saw them, from its scrape events' ts."""
        last, last_up, diffs, scrapes, ups, errs = {}, {}, [], 0, 0, {}
        pat = re.compile(rb'"ts":"([^"]+)".*?"instance":"([^"]+)"')
        with open(self.out, "rb") as f:
            for line in f:
                if b'"event":"scrape"' not in line:
                    continue
                m = pat.search(line)
                ts = datetime.fromisoformat(m.group(1).decode().replace("Z", "+00:00")).timestamp()
                if ts < t0 or ts >= t1:
                    continue
                scrapes += 1
                inst = m.group(2)
                if inst in last:
                    diffs.append(ts - last[inst])
                last[inst] = ts
                last_up[inst] = b'"up":true' in line
                if last_up[inst]:
                    ups += 1
                else:
                    e = json.loads(line).get("error")
                    errs[e] = errs.get(e, 0) + 1
        return {
            "self_scrapes": scrapes, "self_up_scrapes": ups, "self_errors": errs,
            "self_p50": pct(diffs, 0.5), "self_p99": pct(diffs, 0.99), "self_max": max(diffs) if diffs else None,
            "self_instances": len(last), "self_up_targets": sum(last_up.values()), "state_totals": getattr(self, "state_totals", None),
        }


class Tui(Client):
    name = "scrapetop-tui"

    def __init__(self, h, n, interval="1s", timeout="1s", label=None):
        if label:
            self.name = label
        super().__init__(h, n)
        self.interval, self.timeout = interval, timeout

    def start(self):
        argf = self.dir / "args"
        argf.write_text("\n".join(f"--target={t}" for t in self.targets) + "\n")
        wrapper = self.dir / "run.sh"
        wrapper.write_text(
            "#!/bin/bash\nmapfile -t T < " + str(argf) + "\n"
            f"exec ip netns exec {NS_SCR} {self.h.bin} --interval {self.interval} --timeout {self.timeout} "
            f"--log-file {self.dir}/tui.log \"${{T[@]}}\"\n"
        )
        wrapper.chmod(0o755)
        env = dict(os.environ, TERM="xterm-256color", XDG_STATE_HOME=str(self.dir),
                   **dict(kv.split("=", 1) for kv in self.h.args.env))
        sh("tmux", "-L", TMUX_SOCK, "-f", "/dev/null", "new-session", "-d", "-s", "bench",
           "-x", "200", "-y", "50", str(wrapper), env=env)
        self.h.tmux = True
        pid = int(subprocess.run(["tmux", "-L", TMUX_SOCK, "display", "-p", "-t", "bench", "#{pane_pid}"],
                                 capture_output=True, text=True, check=True).stdout)
        # The wrapper execs ip, which execs scrapetop: same pid, wait until it is scrapetop.
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                if Path(f"/proc/{pid}/exe").resolve().name == "scrapetop":
                    break
            except OSError:
                pass
            time.sleep(0.1)
        self.pid = pid
        return pid

    def up(self):
        scr = subprocess.run(["tmux", "-L", TMUX_SOCK, "capture-pane", "-p", "-t", "bench"],
                             capture_output=True, text=True).stdout
        (self.dir / "screen.txt").write_text(scr)
        m = re.search(r"\bup\s+(\d+)\s+down\b", scr)
        return int(m.group(1)) if m else None

    def stop(self):
        subprocess.run(["tmux", "-L", TMUX_SOCK, "send-keys", "-t", "bench", "q"])
        deadline = time.time() + 10
        while time.time() < deadline and os.path.exists(f"/proc/{self.pid}"):
            time.sleep(0.2)
        if os.path.exists(f"/proc/{self.pid}"):
            os.kill(self.pid, signal.SIGTERM)
        subprocess.run(["tmux", "-L", TMUX_SOCK, "kill-server"], stderr=subprocess.DEVNULL)
        self.h.tmux = False


class Prometheus(Client):
    name = "prometheus"

    def start(self):
        cfg = self.dir / "prometheus.yml"
        cfg.write_text(
            "global: {scrape_interval: 1s, scrape_timeout: 1s}\n"
            "scrape_configs:\n  - job_name: fleet\n    static_configs:\n      - targets:\n"
            + "".join(f"          - {t}\n" for t in self.targets)
        )
        self.p = subprocess.Popen(
            nsx(NS_SCR, "prometheus", f"--config.file={cfg}", f"--storage.tsdb.path={self.dir}/data",
                f"--web.listen-address={PROM_WEB}", "--storage.tsdb.retention.time=1h", "--log.level=warn"),
            stdout=subprocess.DEVNULL, stderr=open(self.dir / "stderr", "wb"), start_new_session=True,
        )
        STARTED.append(self.p)
        return self.p.pid

    def up(self):
        try:
            out = subprocess.run(
                nsx(NS_SCR, "curl", "-s", "--max-time", "20", f"http://{PROM_WEB}/api/v1/targets?state=active"),
                capture_output=True, timeout=30, check=True,
            ).stdout
            tg = json.loads(out)["data"]["activeTargets"]
        except Exception as e:  # noqa: BLE001
            log("prometheus targets:", e)
            return None
        self.health = {}
        for t in tg:
            self.health[t["health"]] = self.health.get(t["health"], 0) + 1
        errs = {}
        for t in tg:
            if t.get("lastError"):
                e = re.sub(r"\d+\.\d+\.\d+\.\d+:\d+", "ADDR", t["lastError"])
                errs[e] = errs.get(e, 0) + 1
        self.errors = dict(sorted(errs.items(), key=lambda x: -x[1])[:3])
        return self.health.get("up", 0)

    def extra(self, t0, t1):
        return {"health": getattr(self, "health", None), "errors": getattr(self, "errors", None)}

    def stop(self):
        stop_proc(self.p, signal.SIGTERM, 30)


class Wrk(Client):
    interval_key = "conn"

    def __init__(self, h, n, paced):
        self.name = "wrk-paced" if paced else "wrk-flat"
        super().__init__(h, n)
        self.paced = paced

    def start(self):
        shards = self.h.fleet.shards
        # One wrk thread per nginx instance, each thread on that instance's first port, so the
        # connections spread over the fleet like the scrapers' and fit each worker's fd budget.
        ports = ",".join(str(PORT_BASE + first) for _, _, first, _ in shards)
        lua = self.dir / "wrk.lua"
        lua.write_text(
            f"local ports = {{{ports}}}\nlocal i = 0\n"
            "function setup(thread)\n  i = i + 1\n"
            f"  thread.addr = wrk.lookup('{FLEET_IP}', tostring(ports[i]))[1]\nend\n"
            "wrk.path = '/metrics'\n"
            + (
                # Paced: one request per connection per second on average. The delay is drawn
                # uniformly from 0.5-1.5 s so connections do not fire in lockstep.
                "function delay()\n  return math.random(500, 1500)\nend\n" if self.paced else ""
            )
        )
        dur = int(self.h.args.warmup + self.h.args.window + 5)
        self.p = subprocess.Popen(
            nsx(NS_SCR, "wrk", "-t", str(len(shards)), "-c", str(self.n), "-d", f"{dur}s",
                "--timeout", "2s", "-s", str(lua), f"http://{FLEET_IP}:{PORT_BASE}/metrics"),
            stdout=open(self.dir / "stdout", "wb"), stderr=subprocess.STDOUT, start_new_session=True,
        )
        STARTED.append(self.p)
        return self.p.pid

    def up(self):
        return None

    def stop(self):
        stop_proc(self.p, signal.SIGINT, 10)


# ---------------------------------------------------------------- harness


class Harness:
    def __init__(self, args):
        self.args = args
        self.bin = Path(args.bin).resolve()
        self.work = Path(tempfile.mkdtemp(prefix="stbench-", dir="/dev/shm"))
        self.fleet = None
        self.tmux = False
        self.results = []

    def wait_quiet(self):
        """Wait (bounded) for other engineers' rustc builds to finish; record what we saw."""
        deadline = time.time() + self.args.quiet_wait
        busy = False
        while time.time() < deadline:
            r = subprocess.run(["pgrep", "-x", "rustc"], capture_output=True)
            if r.returncode != 0:
                return busy
            busy = True
            time.sleep(5)
        log("rustc still running after", self.args.quiet_wait, "s; measuring anyway")
        return True

    def measure(self, client, n):
        waited = self.wait_quiet()
        la0 = loadavg()
        log(f"{client.name} N={n}: start (load {la0[0]:.2f})")
        pid = client.start()
        time.sleep(self.args.warmup)
        if not os.path.exists(f"/proc/{pid}"):
            raise RuntimeError(f"{client.name} exited during warm-up; see {client.dir}")
        nginx = self.fleet.worker_pids()
        offs = self.fleet.log_offsets()
        s = Sampler(pid)
        r0 = self.fleet.requests()
        c0 = proc_cpu_split(pid)
        n0 = sum(proc_cpu_ticks(p) for p in nginx)
        b0 = machine_busy()
        t0 = time.time()
        s.start()
        time.sleep(self.args.window)
        t1 = time.time()
        c1 = proc_cpu_split(pid)
        n1 = sum(proc_cpu_ticks(p) for p in nginx)
        b1 = machine_busy()
        r1 = self.fleet.requests()
        s.stop_ev.set()
        st = proc_status(pid)
        if "VmRSS" not in st:
            raise RuntimeError(f"{client.name} exited during the window; see {client.dir}")
        fds = proc_fds(pid)
        la1 = loadavg()
        up = client.up()
        client.stop()
        time.sleep(1.5)  # let nginx flush its access log buffer
        win = t1 - t0
        reqs = r1 - r0 - 2 * len(self.fleet.shards)  # minus our own stub_status requests
        cpu_ms = ((c1[0] - c0[0]) + (c1[1] - c0[1])) * 1000 / CLK_TCK
        sys_ms = (c1[1] - c0[1]) * 1000 / CLK_TCK
        ncpu = (n1 - n0) * 1000 / CLK_TCK
        busy = (b1[0] - b0[0]) / max(1, b1[1] - b0[1]) * os.cpu_count()
        diffs, keys, new_conns, statuses = self.fleet.intervals(offs, t0, t1, client.interval_key)
        res = {
            "client": client.name, "n": n, "lines": self.fleet.lines, "window_s": round(win, 2),
            "scrapes_per_s": round(reqs / win, 1), "expected_per_s": n,
            "cpu_ms_per_1k": round(cpu_ms / max(1, reqs) * 1000, 1),
            "sys_share": round(sys_ms / cpu_ms, 2) if cpu_ms else None,
            "cpu_cores": round(cpu_ms / 1000 / win, 3),
            "rss_mb": round(st["VmRSS"] / 1024, 1), "peak_rss_mb": round(st["VmHWM"] / 1024, 1),
            "max_sampled_rss_mb": round(max(s.rss or [0]) / 1024, 1),
            "threads": st["Threads"], "fds": fds, "max_fds": max(s.fds or [fds]),
            "up": up,
            "interval_p50": pct(diffs, 0.5), "interval_p99": pct(diffs, 0.99),
            "interval_max": max(diffs) if diffs else None, "interval_keys": keys,
            "new_conns_in_window": new_conns, "statuses": statuses,
            "nginx_cores": round(ncpu / 1000 / win, 3), "machine_busy_cores": round(busy, 3),
            "others_cores": round(busy - cpu_ms / 1000 / win - ncpu / 1000 / win, 3),
            "load_before": la0, "load_after": la1, "waited_for_rustc": waited,
            "t0": t0, "dir": str(client.dir),
        }
        res.update(client.extra(t0, t1))
        for k in ("interval_p50", "interval_p99", "interval_max", "self_p50", "self_p99", "self_max"):
            if res.get(k) is not None:
                res[k] = round(res[k], 4)
        log(json.dumps({k: v for k, v in res.items() if k not in ("dir", "t0")}))
        self.results.append(res)
        with open(self.args.out, "a") as f:
            f.write(json.dumps(res) + "\n")
        return res

    def noisy(self, res):
        return res["others_cores"] > self.args.noise or res["load_before"][0] > self.args.max_load

    def run_client(self, make, n):
        res = self.measure(make(), n)
        tries = 0
        while self.noisy(res) and tries < self.args.repeats:
            tries += 1
            log(f"noisy run (others {res['others_cores']} cores, load {res['load_before'][0]}): repeating")
            res["noisy"] = True
            res = self.measure(make(), n)
        return res

    def run(self):
        a = self.args
        if a.fleet_only:
            # Keep a fleet up (bounded) for manual profiling from another shell.
            n = a.sizes[0]
            self.fleet = Fleet(n, a.lines, self.work)
            self.fleet.start()
            log(f"fleet of {n} up for {a.fleet_only:.0f} s: targets {FLEET_IP}:{PORT_BASE}-{PORT_BASE + n - 1}, "
                f"run clients with `ip netns exec {NS_SCR} ...`; ctrl+c ends it")
            try:
                time.sleep(a.fleet_only)
            finally:
                self.fleet.stop()
            return
        for n in a.sizes:
            self.fleet = Fleet(n, a.lines, self.work)
            self.fleet.start()
            try:
                for c in a.clients:
                    if c == "headless":
                        self.run_client(lambda: Headless(self, n), n)
                    elif c == "tui" and n >= a.tui_min:
                        self.run_client(lambda: Tui(self, n), n)
                    elif c == "prometheus":
                        self.run_client(lambda: Prometheus(self, n), n)
                    elif c == "wrk-paced":
                        self.run_client(lambda: Wrk(self, n, True), n)
                    elif c == "wrk-flat":
                        self.run_client(lambda: Wrk(self, n, False), n)
            finally:
                self.fleet.stop()
        if "tui-idle" in a.clients:
            # Nothing changes: 100 targets at a 10 m interval; after the first scrapes the UI has
            # only its age clock to draw.
            self.fleet = Fleet(100, a.lines, self.work)
            self.fleet.start()
            try:
                self.run_client(lambda: Tui(self, 100, "10m", "10s", "scrapetop-tui-idle"), 100)
            finally:
                self.fleet.stop()

    def teardown(self):
        if self.tmux:
            subprocess.run(["tmux", "-L", TMUX_SOCK, "kill-server"], stderr=subprocess.DEVNULL)
        for p in STARTED:
            stop_proc(p, signal.SIGKILL if p.poll() is None else signal.SIGTERM, 5)
        if not self.args.keep:
            shutil.rmtree(self.work, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("sizes", nargs="*", type=int, default=[1000, 2000, 5000, 10000])
    ap.add_argument("--window", type=float, default=60)
    ap.add_argument("--warmup", type=float, default=15)
    ap.add_argument("--lines", type=int, default=20)
    ap.add_argument("--clients", default="headless,prometheus,wrk-paced,wrk-flat,tui,tui-idle")
    ap.add_argument("--tui-min", type=int, default=10000, help="run the TUI only at N >= this")
    ap.add_argument("--bin", default=str(REPO / "target/release/scrapetop"))
    ap.add_argument("--out", required=True)
    ap.add_argument("--noise", type=float, default=0.25, help="others' CPU (cores) that marks a run noisy")
    ap.add_argument("--max-load", type=float, default=4.0)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--quiet-wait", type=float, default=120)
    ap.add_argument("--keep", action="store_true", help="keep the work dir (logs, events)")
    ap.add_argument("--env", action="append", default=[], metavar="K=V", help="environment for scrapetop")
    ap.add_argument("--fleet-only", type=float, metavar="S", help="only keep a fleet of N up for S seconds")
    a = ap.parse_args()
    a.clients = a.clients.split(",")
    h = Harness(a)
    log("work dir", h.work)

    def on_signal(sig, _):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    try:
        h.run()
    finally:
        h.teardown()


if __name__ == "__main__":
    main()
