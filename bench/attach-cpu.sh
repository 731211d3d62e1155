#!/bin/sh
# CPU of scrapetop attach against a Prometheus scraping SIZE testexporter targets at 15 s (all
# in one network namespace), and the extra CPU the attach causes in Prometheus.
# Each process needs about SIZE descriptors: the soft RLIMIT_NOFILE must allow it.
# Run as root, queued and under the suite lock (it uses a network namespace):
#   flock /tmp/scrapetop-benchq.lock flock /tmp/scrapetop-suite.lock \
#     bench/attach-cpu.sh target/release/scrapetop [SIZE]      # SIZE: default 1000
# Build both binaries first (the helper is behind a feature so `cargo install` leaves it out):
#   cargo build --release --features testexporter
set -e
BIN=$(realpath "${1:?usage: bench/attach-cpu.sh path/to/release/scrapetop [SIZE]}")
N=${2:-1000}
LAST=$((20000 + N - 1))
# Prometheus needs about one interval to start every scrape loop, more at larger sizes.
WARM=$((25 + N / 500))
mkdir -p /tmp/cpu && cd /tmp/cpu
{
  printf 'global:\n  scrape_interval: 15s\n  scrape_timeout: 10s\nscrape_configs:\n'
  printf '  - job_name: fleet\n    static_configs:\n      - targets:\n'
  seq 20000 "$LAST" | sed 's/^/          - 127.0.0.1:/'
} > p.yml
ip netns add stcpu; ip -n stcpu link set lo up
ip netns exec stcpu "$BIN-testexporter" serve 127.0.0.1 20000-$LAST 20 > exp.log 2>&1 &
i=0; while ! grep -q ready exp.log && [ $i -lt 60 ]; do sleep 1; i=$((i + 1)); done
rm -rf data
ip netns exec stcpu prometheus --config.file=p.yml --storage.tsdb.path=data --web.listen-address=127.0.0.1:9090 --log.level=warn > prom.log 2>&1 &
sleep "$WARM"
PP=$(for p in $(ip netns pids stcpu); do [ "$(readlink /proc/$p/exe)" = /usr/bin/prometheus ] && echo $p; done)
cleanup() { for p in $(ip netns pids stcpu); do kill $p; done; sleep 1; ip netns del stcpu; }
[ -n "$PP" ] || { echo "prometheus did not start:"; tail -5 prom.log; cleanup; exit 1; }
ticks() { awk '{print $14+$15}' /proc/$1/stat; }
echo "size $N, load before: $(cut -d' ' -f1-3 /proc/loadavg)"
p0=$(ticks $PP); sleep 60; p1=$(ticks $PP)
echo "prometheus alone: $(( p1 - p0 )) ticks in 60 s"
(sleep 80; echo '{"cmd":"quit"}') | $BIN attach $PP --headless > attach.out 2> attach.err &
# Attach's start (the first API read and fd table) is not the steady state measured.
sleep 15
SP=$(pgrep -f "scrapetop attach $PP" | head -1)
s0=$(ticks $SP); p0=$(ticks $PP); sleep 60; s1=$(ticks $SP); p1=$(ticks $PP)
echo "with attach: scrapetop $(( s1 - s0 )) ticks, prometheus $(( p1 - p0 )) ticks in 60 s"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "conn_opened: $(grep -c conn_opened attach.out || true)"
echo "scrape events: $(grep -c '"scrape"' attach.out || true)"
grep '"fds"' attach.out | tail -1
sleep 8
cleanup
