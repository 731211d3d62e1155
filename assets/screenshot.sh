#!/usr/bin/env bash
# Re-make the README screenshots of the built-in demo:
#   assets/demo.png         the targets screen, api-2.demo.test selected
#   assets/demo-detail.png  the detail screen of api-2.demo.test
#
# It builds scrapetop, runs the demo (`scrapetop` with no arguments; loopback only) in a
# private tmux server at a fixed size, waits until the demo's script has made its problems
# visible (api-2 moved at 20 s and is flagged as a stale peer after the background DNS
# recheck; the DNS server is silent from 45 s to 70 s), captures the screen with its colours
# (tmux capture-pane -e) and renders it with assets/ansi2png.py. The tmux server and the demo
# are stopped at the end, also on error or Ctrl-C.
#
# Needs: cargo, tmux, python3 with Pillow (pip install pillow), the DejaVu fonts
# (apt-get install -y fonts-dejavu-core).
#
# Environment (all optional):
#   COLS=180 ROWS=50   terminal size; at 170+ columns the targets table adds its
#                      "last dns" column, which shows the answer next to the stale peer
#   WAIT=62            seconds of demo before the first capture (the demo script repeats
#                      every 180 s; 55-68 s shows the stale peer and the DNS outage at once)
#   SKIP_BUILD=1       use the existing target/release/scrapetop
#   LOG=/tmp/shot.log  scrapetop's log file
#   KEEP_ANSI=1        also keep the captured ANSI text as assets/*.ans
#   RENDER_ARGS="..."  extra arguments for ansi2png.py (e.g. "--scale 2 --palette xterm")
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
cols=${COLS:-180}
rows=${ROWS:-50}
wait_s=${WAIT:-62}
log=${LOG:-/tmp/shot.log}
bin="$repo/target/release/scrapetop"
sock="scrapetop-shot-$$"
work=$(mktemp -d)

say() { printf '%s\n' "screenshot: $*" >&2; }

for tool in tmux python3; do
    command -v "$tool" >/dev/null || { say "$tool is required"; exit 1; }
done
python3 -c 'import PIL' 2>/dev/null || { say "Pillow is required: pip install pillow"; exit 1; }
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf ] ||
    { say "DejaVu fonts are required: apt-get install -y fonts-dejavu-core"; exit 1; }

if [ "${SKIP_BUILD:-}" != 1 ]; then
    say "building"
    (cd "$repo" && cargo build --release --quiet)
fi
[ -x "$bin" ] || { say "no $bin"; exit 1; }

t() { tmux -L "$sock" "$@"; }
cleanup() {
    t kill-server 2>/dev/null || true
    rm -f "${TMUX_TMPDIR:-/tmp}/tmux-$(id -u)/$sock"
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

screen() { t capture-pane -p -t shot; }
# wait_for SECONDS REGEX: poll the screen until it matches; 1 if it never does.
wait_for() {
    local deadline=$((SECONDS + $1))
    while [ $SECONDS -lt "$deadline" ]; do
        screen | grep -Eq -- "$2" && return 0
        sleep 0.5
    done
    return 1
}
capture() { # capture NAME: the screen with colours, rendered to assets/NAME.png
    t capture-pane -e -p -N -t shot >"$work/$1.ans"
    # shellcheck disable=SC2086
    python3 "$here/ansi2png.py" "$work/$1.ans" "$here/$1.png" \
        --cols "$cols" --rows "$rows" ${RENDER_ARGS:-}
    if [ "${KEEP_ANSI:-}" = 1 ]; then cp "$work/$1.ans" "$here/$1.ans"; fi
}

# A private tmux server without the user's configuration, no status line: the pane is the
# whole COLSxROWS window.
t -f /dev/null new-session -d -s shot -x "$cols" -y "$rows" \
    "exec '$bin' --log-file '$log'"
t set-option -t shot status off
t set-option -t shot remain-on-exit on
size=$(t display -p -t shot '#{pane_width}x#{pane_height}')
[ "$size" = "${cols}x${rows}" ] || { say "pane is $size, wanted ${cols}x${rows}"; exit 1; }

wait_for 15 'DEMO' || { say "the demo did not start:"; screen >&2; exit 1; }
say "demo running; waiting ${wait_s}s for its script"
sleep "$wait_s"
# The stale-peer flag comes from the background recheck, at most 30 s after the move.
wait_for 30 'stale peer [1-9]' || say "warning: no stale peer shown yet"

# Select api-2.demo.test: sorted by job, it is the second row.
t send-keys -t shot j
wait_for 5 'api-2\.demo\.test' || true
sleep 1.2 # let a few frames and a scrape go by
capture demo

# The detail screen of api-2: filter (/), type, Enter applies the filter, Enter opens
# the detail of the selected (only) row.
t send-keys -t shot /
sleep 0.3
t send-keys -t shot -l 'api-2'
sleep 0.3
t send-keys -t shot Enter
wait_for 5 '1/40 shown' || { say "the filter did not apply:"; screen >&2; exit 1; }
t send-keys -t shot Enter
wait_for 5 'api / api-2\.demo\.test' || { say "no detail screen:"; screen >&2; exit 1; }
sleep 1.2
capture demo-detail

t send-keys -t shot q
quit_by=$((SECONDS + 15))
until [ "$(t display -p -t shot '#{pane_dead}')" = 1 ]; do
    if [ $SECONDS -ge $quit_by ]; then
        say "warning: scrapetop did not quit within 15 s of q; the tmux server is killed"
        break
    fi
    sleep 0.5
done
say "done: $here/demo.png $here/demo-detail.png"
