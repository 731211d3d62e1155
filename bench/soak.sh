#!/usr/bin/env bash
# Soak run: scrapetop headless against loopback exporters at 1 s, with reconnects, reloads and
# probes sprinkled in on stdin; RSS and descriptors recorded every minute (bench/soak.py).
#
#   bench/soak.sh OUT_DIR [--targets 1000] [--duration 3600]
#
# Builds the release binaries (unless SCRAPETOP_BIN and SCRAPETOP_EXPORTER_BIN are set), copies
# them into OUT_DIR/bin so that later rebuilds cannot change a running soak, records the commit,
# and runs bench/soak.py. Results: OUT_DIR/summary.txt (readable), summary.json,
# minutes.jsonl (one line a minute), scrapetop.log (its stderr). Loopback only; stops by itself.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:?usage: bench/soak.sh OUT_DIR [soak.py options]}
shift
mkdir -p "$out/bin"
if [ -z "${SCRAPETOP_BIN:-}" ]; then
  (cd "$root" && cargo build --release --bins --features testexporter)
  SCRAPETOP_BIN=$root/target/release/scrapetop
  SCRAPETOP_EXPORTER_BIN=$root/target/release/scrapetop-testexporter
fi
cp "$SCRAPETOP_BIN" "$out/bin/scrapetop"
cp "${SCRAPETOP_EXPORTER_BIN:?set SCRAPETOP_EXPORTER_BIN too}" "$out/bin/scrapetop-testexporter"
(cd "$root" && git log -1 --format='%H %s' && git status --short) > "$out/commit.txt" 2>/dev/null || true
exec python3 "$root/bench/soak.py" --bin "$out/bin/scrapetop" \
  --exporter "$out/bin/scrapetop-testexporter" --out "$out" "$@"
