#!/bin/sh
# Rough CPU of scrapetop attach against a 1,000-target Prometheus (all in one namespace).
# Build both binaries first (the helper is behind a feature so `cargo install` leaves it out):
#   cargo build --release --features testexporter
# Run as root under the suite lock: flock /tmp/scrapetop-suite.lock bench/attach-cpu.sh target/release/scrapetop
set -e
BIN=$(realpath "${1:?usage: bench/attach-cpu.sh path/to/release/scrapetop}")
cd "$(dirname "$0")"/.. && mkdir -p /tmp/cpu && cp bench/attach-cpu.yml /tmp/cpu/p.yml && cd /tmp/cpu
ip netns add stcpu; ip -n stcpu link set lo up
ip netns exec stcpu $BIN-testexporter serve 127.0.0.1 20000-20999 20 > exp.log 2>&1 &
sleep 2
rm -rf data
ip netns exec stcpu prometheus --config.file=p.yml --storage.tsdb.path=data --web.listen-address=127.0.0.1:9090 --log.level=warn > prom.log 2>&1 &
sleep 25
PP=$(for p in $(ip netns pids stcpu); do [ "$(readlink /proc/$p/exe)" = /usr/bin/prometheus ] && echo $p; done)
ticks() { awk '{print $14+$15}' /proc/$1/stat; }
p0=$(ticks $PP); sleep 60; p1=$(ticks $PP)
echo "prometheus alone: $(( p1 - p0 )) ticks in 60 s"
(sleep 75; echo '{"cmd":"quit"}') | $BIN attach $PP --headless > attach.out 2> attach.err &
sleep 10
SP=$(pgrep -f "scrapetop attach $PP" | head -1)
s0=$(ticks $SP); p0=$(ticks $PP); sleep 60; s1=$(ticks $SP); p1=$(ticks $PP)
echo "with attach: scrapetop $(( s1 - s0 )) ticks, prometheus $(( p1 - p0 )) ticks in 60 s"
grep -c conn_opened attach.out || true
grep -c '"scrape"' attach.out || true
grep '"fds"' attach.out | tail -1
sleep 8
for p in $(ip netns pids stcpu); do kill $p; done
sleep 1; ip netns del stcpu
