#!/usr/bin/env bash
# etwnet benchmark: generates deterministic inputs, times etwnet on each,
# checks the expected answers, and prints size, wall time, MB/s, events/s,
# peak RSS and the ratio to `wc -l` on the same file in the same run.
#
# Usage (from the repository root):
#   tests/bench/run.sh [SIZE_MIB] [WORKDIR]      default 100 MiB, /tmp/etwnet-bench
# Environment: THREADS=N (etwnet -j), REPEAT=N (timed runs per input, best kept).
set -euo pipefail
SIZE_MIB=${1:-100}
WORK=${2:-/tmp/etwnet-bench}
REPEAT=${REPEAT:-2}
cd "$(dirname "$0")/../.."
cargo build --release --quiet --bin etwnet --bin etwnet-bench-gen
BIN=target/release/etwnet
GEN=target/release/etwnet-bench-gen
JOBS=()
[ -n "${THREADS:-}" ] && JOBS=(-j "$THREADS")
mkdir -p "$WORK"
if [ ! -f "$WORK/.size_$SIZE_MIB" ]; then
  rm -f "$WORK"/.size_*
  "$GEN" gen -o "$WORK" --size-mib "$SIZE_MIB"
  touch "$WORK/.size_$SIZE_MIB"
fi
TIMEV=/usr/bin/time
[ -x "$TIMEV" ] || { echo "needs GNU time at /usr/bin/time (apt-get install time)"; exit 2; }

# best-of-REPEAT wall seconds of a command; sets WALL and RSS_KB.
measure() {
  WALL=; RSS_KB=
  for _ in $(seq "$REPEAT"); do
    "$TIMEV" -f "%e %M" -o "$WORK/time.txt" "$@" >/dev/null 2>"$WORK/stderr.txt" || { cat "$WORK/stderr.txt"; return 1; }
    read -r w m < "$WORK/time.txt"
    if [ -z "$WALL" ] || awk "BEGIN{exit !($w < $WALL)}"; then WALL=$w; fi
    if [ -z "$RSS_KB" ] || [ "$m" -gt "$RSS_KB" ]; then RSS_KB=$m; fi
  done
}

printf '%-34s %9s %8s %9s %11s %9s %8s %6s\n' input MiB wall_s MB/s events/s rss_MiB wc_l_s ratio
FAIL=0
run_case() { # label file expected cmd...
  local label=$1 file=$2 expected=$3; shift 3
  local bytes; bytes=$(stat -c %s "$file")
  cat "$file" >/dev/null   # warm the page cache
  measure wc -l "$file"; local wc=$WALL
  measure "$@"
  local wall=$WALL rss=$RSS_KB
  local events; events=$(grep -Eo '^  total: .* ([0-9]+) events' "$WORK/stderr.txt" | grep -Eo '[0-9]+ events' | grep -Eo '[0-9]+' || echo 0)
  # the summary is printed unless --quiet; the runs below keep it
  awk -v l="$label" -v b="$bytes" -v w="$wall" -v e="$events" -v r="$rss" -v wc="$wc" 'BEGIN{
    w2=(w>0)?w:0.01; wc2=(wc>0)?wc:0.01;
    printf "%-34s %9.1f %8.2f %9.1f %11.0f %9.1f %8.2f %6.1f\n", l, b/1048576, w, b/1e6/w2, e/w2, r/1024, wc, w2/wc2 }'
  if [ -n "$expected" ]; then
    "$GEN" check --expected "$expected" --dir "$WORK/out" || FAIL=1
  fi
}

rm -rf "$WORK/out"
run_case "netsh timeline --no-events" "$WORK/netsh.txt" "$WORK/expected_netsh.json" \
  "$BIN" timeline "${JOBS[@]}" "$WORK/netsh.txt" -o "$WORK/out" --no-events
rm -rf "$WORK/out"
run_case "netsh timeline (events.csv)" "$WORK/netsh.txt" "$WORK/expected_netsh.json" \
  "$BIN" timeline "${JOBS[@]}" "$WORK/netsh.txt" -o "$WORK/out"
rm -rf "$WORK/out"
run_case "pktmon utf16 timeline --no-events" "$WORK/pktmon.txt" "$WORK/expected_pktmon.json" \
  "$BIN" timeline "${JOBS[@]}" "$WORK/pktmon.txt" -o "$WORK/out" --no-events
run_case "pktmon utf16 drops" "$WORK/pktmon.txt" "" \
  "$BIN" drops "${JOBS[@]}" "$WORK/pktmon.txt"
rm -rf "$WORK/out"
run_case "tracerpt xml timeline --no-events" "$WORK/tracerpt.xml" "$WORK/expected_xml.json" \
  "$BIN" timeline "${JOBS[@]}" "$WORK/tracerpt.xml" -o "$WORK/out" --no-events
run_case "tracerpt xml events (csv)" "$WORK/tracerpt.xml" "" \
  "$BIN" events "${JOBS[@]}" "$WORK/tracerpt.xml" -o "$WORK/events.csv"
rm -f "$WORK/events.csv"
exit $FAIL
