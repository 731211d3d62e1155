#!/usr/bin/env bash
# Profile scrapetop headless against a fleet kept up by `bench/run.sh --fleet-only S N`
# (run that first, in another shell, with the same N).
#
#   bench/profile.sh cpu  N [SECONDS]   perf record (cpu-clock, DWARF call graphs) after a warm-up
#   bench/profile.sh heap N [SECONDS]   heaptrack over the whole run; heaptrack_print summary
#   bench/profile.sh rss  N [SECONDS]   VmRSS/VmHWM and CPU every 10 s (try MALLOC_ARENA_MAX=1 ...)
#
# Output under /dev/shm/stprof-<what>-<N>/. The VM has no hardware counters
# (`perf stat -e instructions` is "not supported"), so perf samples the cpu-clock software event.
set -euo pipefail
what=${1:?cpu|heap}
n=${2:?N}
secs=${3:-30}
HERE=$(cd "$(dirname "$0")" && pwd)
BIN=${SCRAPETOP_BIN:-$(dirname "$HERE")/target/release/scrapetop}
out=${PROFILE_OUT:-/dev/shm/stprof-$what-$n}
rm -rf "$out" && mkdir -p "$out"
# A target list file, not N `--target` arguments: heaptrack aborts on a 10,000-argument
# command line ("message doesn't fit into buffer").
for ((p = 20000; p < 20000 + n; p++)); do echo "10.214.0.2:$p"; done >"$out/targets.txt"
args=(--headless --interval 1s --timeout 1s --targets "$out/targets.txt")

fifo=$out/stdin
mkfifo "$fifo"
pid=
cleanup() {
    [[ -n $pid ]] && kill "$pid" 2>/dev/null || true
    exec 7>&- 2>/dev/null || true
}
trap cleanup EXIT

case $what in
cpu)
    ip netns exec stb-scr "$BIN" "${args[@]}" <"$fifo" >"$out/events.jsonl" 2>"$out/stderr" &
    pid=$!
    exec 7>"$fifo"
    sleep 15
    perf record -e cpu-clock -F 499 --call-graph dwarf,16384 -p "$pid" -o "$out/perf.data" -- sleep "$secs" \
        2>"$out/perf-record.log"
    echo '{"cmd":"quit"}' >&7
    wait "$pid" || true
    pid=
    perf report -i "$out/perf.data" --no-children --stdio --percent-limit 0.7 -g none \
        --sort symbol 2>/dev/null >"$out/self.txt"
    perf report -i "$out/perf.data" --children --stdio --percent-limit 3 -g none \
        --sort symbol 2>/dev/null >"$out/children.txt"
    head -60 "$out/self.txt"
    ;;
rss)
    ip netns exec stb-scr "$BIN" "${args[@]}" <"$fifo" >/dev/null 2>"$out/stderr" &
    pid=$!
    exec 7>"$fifo"
    for ((i = 0; i < secs; i += 10)); do
        sleep 10
        read -r ut st < <(awk '{print $14, $15}' /proc/$pid/stat)
        echo "t=$((i + 10))s $(grep -E 'VmRSS|VmHWM' /proc/$pid/status | tr -s ' \n' ' ') cpu_ticks=$((ut + st))"
    done
    # Where the resident pages are: the heap (brk), anonymous mappings (glibc's per-thread
    # arenas, large allocations, thread stacks) and the binary.
    cat /proc/$pid/smaps_rollup >"$out/smaps_rollup.txt"
    awk '/^[0-9a-f]+-/ {name=$6} /^Rss:/ {rss[name==""?"[anon]":name]+=$2} END {for (k in rss) if (rss[k] > 1024) print rss[k] " kB " k}' \
        /proc/$pid/smaps | sort -rn >"$out/smaps_by_mapping.txt"
    cat "$out/smaps_by_mapping.txt"
    # glibc's own view, arena by arena (main = the brk heap, the others the worker threads'):
    # "system bytes" held from the kernel against "in use bytes" live, the rest free chunks.
    if command -v gdb >/dev/null; then
        gdb -p "$pid" -batch -ex 'call ((void(*)(void))malloc_stats)()' >/dev/null 2>&1 || true
        grep -E '^(Arena|system bytes|in use bytes|Total)' "$out/stderr" | paste - - - | tr -s ' \t' ' ' || true
        # How much of the rest is free pages glibc keeps: RSS after malloc_trim(0) returns them.
        gdb -p "$pid" -batch -ex 'call ((int(*)(unsigned long))malloc_trim)(0)' >/dev/null 2>&1 || true
        sleep 1
        echo "after malloc_trim(0): $(grep -E 'VmRSS' /proc/$pid/status | tr -s ' \n' ' ')"
    fi
    echo '{"cmd":"quit"}' >&7
    wait "$pid" || true
    pid=
    ;;
heap)
    ip netns exec stb-scr heaptrack -o "$out/heaptrack" "$BIN" "${args[@]}" <"$fifo" \
        >"$out/events.jsonl" 2>"$out/stderr" &
    pid=$!
    exec 7>"$fifo"
    sleep "$secs"
    echo '{"cmd":"quit"}' >&7
    wait "$pid" || true
    pid=
    heaptrack_print "$out"/heaptrack*.zst --print-peaks 1 --print-allocators 1 \
        --print-leaks 0 --print-temporary 1 --peak-limit 25 >"$out/heap.txt" 2>&1 || true
    grep -A3 -E "^PEAK MEMORY CONSUMERS|^MOST CALLS TO ALLOC" "$out/heap.txt" | head; tail -12 "$out/heap.txt"
    ;;
esac
