#!/usr/bin/env bash
# Interleaved A/B of scrapetop builds (or settings) against a fleet kept up by
# `bench/run.sh --fleet-only S N` (run that first, in another shell).
#
#   bench/ab.sh ROUNDS WINDOW N label=BINARY[:K=V] ...
#
# Each round runs every variant in turn: scrapetop --headless on the fleet's N targets,
# 8 s of warm-up, then utime+stime of the process over WINDOW seconds and the JSON lines it
# wrote (at a steady state, nearly all `scrape` events), printed as CPU µs per line. K=V is
# put in the variant's environment. Each variant's voluntary context switches per second,
# thread by thread, are printed too: on this kind of VM a sleep and wake-up costs ~25 µs.
set -euo pipefail
rounds=${1:?ROUNDS}
win=${2:?WINDOW}
n=${3:?N}
shift 3
(($# > 0)) || { echo "bench/ab.sh: name at least one variant, label=BINARY[:K=V]" >&2; exit 2; }
ip netns list | grep -qw stb-scr || { echo "bench/ab.sh: no fleet (bench/run.sh --fleet-only S $n)" >&2; exit 2; }
work=$(mktemp -d /dev/shm/stab-XXXXXX)
trap 'rm -rf "$work"' EXIT
for ((p = 20000; p < 20000 + n; p++)); do echo "10.214.0.2:$p"; done >"$work/targets.txt"

switches() { # pid -> "comm:voluntary ..." per thread
    for t in /proc/$1/task/*; do
        printf '%s:%s ' "$(tr -d ' ' <"$t/comm")" "$(awk '/^voluntary/ {print $2}' "$t/status")"
    done
}

for ((r = 1; r <= rounds; r++)); do
    for spec in "$@"; do
        label=${spec%%=*}
        rest=${spec#*=}
        bin=${rest%%:*}
        envs=()
        [[ $rest == *:* ]] && envs=("${rest#*:}")
        out=$work/$label.jsonl
        ip netns exec stb-scr env "${envs[@]}" "$bin" --headless --interval 1s --timeout 1s \
            --targets "$work/targets.txt" < <(sleep $((win + 30))) >"$out" 2>"$work/$label.err" &
        sleep 8
        pid=$(pgrep -n -f -- "$bin --headless" || true)
        [[ -n $pid ]] || { echo "$label: did not start: $(head -3 "$work/$label.err")" >&2; exit 1; }
        read -r ut st < <(awk '{print $14, $15}' "/proc/$pid/stat")
        l0=$(wc -l <"$out")
        s0=$(switches "$pid")
        sleep "$win"
        read -r ut2 st2 < <(awk '{print $14, $15}' "/proc/$pid/stat")
        l1=$(wc -l <"$out")
        s1=$(switches "$pid")
        kill "$pid"
        wait 2>/dev/null || true
        ticks=$((ut2 + st2 - ut - st))
        lines=$((l1 - l0))
        hz=$(getconf CLK_TCK)
        us=$(awk -v t="$ticks" -v l="$lines" -v hz="$hz" 'BEGIN { printf "%.1f", t * 1e6 / hz / (l ? l : 1) }')
        sw=$(paste <(tr ' ' '\n' <<<"$s0") <(tr ' ' '\n' <<<"$s1") | awk -F'\t' -v w="$win" \
            'NF == 2 && $1 != "" { split($1, a, ":"); split($2, b, ":"); printf "%s %d/s  ", a[1], (b[2] - a[2]) / w }')
        echo "$label round=$r  cpu µs/line=$us  lines/s=$((lines / win))  switches: $sw"
    done
done
