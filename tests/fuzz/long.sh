#!/usr/bin/env bash
# A long run of one harness, niced (the machine is shared): RUNS inputs
# (default 10 million) from its seeds and a corpus kept between runs, then
# the figures docs/reliability.md gives; at most SECONDS when given (the
# run then says how far it got). Run it again to go on from the corpus.
#
#   tests/fuzz/long.sh BUILD_DIR NAME [RUNS] [SECONDS]
#
# FUZZ_TIMEOUT (seconds, default 25) is how long one input may take; make
# it long when the run is to be paused (kill -STOP) for a benchmark.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
usage="usage: long.sh BUILD_DIR NAME [RUNS] [SECONDS]"
build=$(cd "${1:?$usage}" && pwd)
name=${2:?$usage}
runs=${3:-10000000}
work=$build/fuzz-long/$name
mkdir -p "$work/corpus"
args=()
[ -f "$here/$name.dict" ] && args+=(-dict="$here/$name.dict")
[ -n "${4:-}" ] && args+=(-max_total_time="$4")
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
start=$(date +%s)
rc=0
nice -n 19 "$build/tests/fuzz/fuzz_$name" -runs="$runs" "${args[@]}" -timeout="${FUZZ_TIMEOUT:-25}" \
	-rss_limit_mb=2048 -artifact_prefix="$work/" -print_final_stats=1 \
	"$work/corpus" "$here/$name/seeds" >"$work/log" 2>&1 || rc=$?
echo "fuzz_$name: exit $rc after $(($(date +%s) - start)) s"
grep -E '^#[0-9]+[[:space:]]+DONE|^stat::' "$work/log" || tail -n 40 "$work/log"
exit $rc
