#!/usr/bin/env bash
# scrapetop benchmarks: scrapetop (headless and TUI), Prometheus and wrk on the same nginx fleet.
#
#   bench/run.sh [options] [N...]          default N: 1000 2000 5000 10000
#
# Options (passed to bench/bench.py): --window S (60), --warmup S (15), --lines 20|300,
#   --clients headless,prometheus,wrk-paced,wrk-flat,tui,tui-idle  --tui-min N (10000)
#   --keep (keep the work dir under /dev/shm)  --write (put the tables into BENCHMARKS.md)
#   --env K=V (environment for scrapetop)  --fleet-only S (keep a fleet of N up S seconds, for
#   profiling by hand: ip netns exec stb-scr perf record ... scrapetop --headless ...)
#
# Needs root (network namespaces). Installs nginx-light, prometheus, wrk, iproute2, tmux, curl
# once with apt-get, with a policy-rc.d that keeps Debian from starting their services. Creates
# namespaces stb-fleet and stb-scr joined by a veth pair (10.214.0.2/30 and 10.214.0.1/30, which
# exist only inside them), and tears everything down on exit, error or signal.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$HERE")
NS_FLEET=stb-fleet
NS_SCR=stb-scr

[[ $(id -u) == 0 ]] || { echo "bench/run.sh: needs root (network namespaces)" >&2; exit 2; }

exec 9>/run/lock/scrapetop-bench.lock
flock -n 9 || { echo "bench/run.sh: another benchmark is running" >&2; exit 2; }

# ---- tools, installed once, with their services kept down
need=()
command -v nginx >/dev/null || need+=(nginx-light)
command -v prometheus >/dev/null || need+=(prometheus)
command -v wrk >/dev/null || need+=(wrk)
command -v ip >/dev/null || need+=(iproute2)
command -v tmux >/dev/null || need+=(tmux)
command -v curl >/dev/null || need+=(curl)
if ((${#need[@]})); then
    made_policy=0
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        made_policy=1
    fi
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}"
    ((made_policy)) && rm -f /usr/sbin/policy-rc.d
fi

# ---- scrapetop, release build
if [[ -z ${SCRAPETOP_BIN:-} ]]; then
    (cd "$REPO" && cargo build --release -q)
    SCRAPETOP_BIN=$REPO/target/release/scrapetop
fi

# ---- namespaces; torn down by the trap whatever happens
teardown() {
    for ns in $NS_SCR $NS_FLEET; do
        if ip netns list | grep -qw "$ns"; then
            # Only processes inside our own namespaces: ours.
            for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
            ip netns del "$ns" 2>/dev/null || true
        fi
    done
    tmux -L stbench kill-server 2>/dev/null || true
}
trap teardown EXIT
trap 'exit 130' INT TERM
teardown

ip netns add $NS_FLEET
ip netns add $NS_SCR
ip link add stb-s netns $NS_SCR type veth peer name stb-f netns $NS_FLEET
ip -n $NS_FLEET addr add 10.214.0.2/30 dev stb-f
ip -n $NS_SCR addr add 10.214.0.1/30 dev stb-s
for ns in $NS_FLEET $NS_SCR; do
    ip -n $ns link set lo up
    ip netns exec $ns sysctl -q -w net.core.somaxconn=4096 net.ipv4.ip_local_port_range="20000 60999" 2>/dev/null || true
done
ip -n $NS_FLEET link set stb-f up
ip -n $NS_SCR link set stb-s up
# The scrapers' ephemeral ports must not collide with the fleet's: the fleet is in its own
# namespace, so they cannot; the range above only widens the scrapers' pool.

write=0
args=()
for a in "$@"; do
    if [[ $a == --write ]]; then write=1; else args+=("$a"); fi
done

stamp=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$HERE/results"
out=$HERE/results/$stamp.jsonl
python3 "$HERE/bench.py" --bin "$SCRAPETOP_BIN" --out "$out" "${args[@]}"
[[ -s $out ]] || exit 0
cmd="bench/run.sh $*"
python3 "$HERE/report.py" "$out" --command "$cmd" >"$HERE/results/$stamp.md"
cat "$HERE/results/$stamp.md"
if ((write)); then
    python3 "$HERE/report.py" "$out" --command "$cmd" --write "$REPO/BENCHMARKS.md"
fi
