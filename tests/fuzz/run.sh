#!/usr/bin/env bash
# Runs the libFuzzer harnesses of a -DDROVER_FUZZ=ON build: each one first
# replays its regressions (tests/fuzz/NAME/regressions: inputs that once
# failed), then fuzzes for SECONDS from its seeds with its dictionary, new
# inputs going to a scratch corpus. A crash, a sanitizer report, a leak or
# a timeout fails the run; the input is kept in OUT/NAME/ and printed as
# base64 (to add it to NAME/regressions once fixed).
#
#   tests/fuzz/run.sh BUILD_DIR [SECONDS] [NAME...]
#
# FUZZ_JOBS harnesses run at once (default: the number of cores); OUT is
# $FUZZ_OUT, default BUILD_DIR/fuzz-out.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:?usage: run.sh BUILD_DIR [SECONDS] [NAME...]}" && pwd)
secs=${2:-60}
shift $(($# > 1 ? 2 : 1))
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
	names=(conf conf_agent wire agent_wire secret queue http hub agent)
fi
jobs=${FUZZ_JOBS:-$(nproc)}
out=${FUZZ_OUT:-$build/fuzz-out}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# fuzz_one NAME: writes OUT/NAME/result ("ok ..." or what failed).
fuzz_one() {
	local name=$1 bin=$build/tests/fuzz/fuzz_$1 work=$out/$1 args f
	rm -rf "$work"
	mkdir -p "$work/corpus"
	args=(-timeout=25 -rss_limit_mb=2048 -artifact_prefix="$work/" -print_final_stats=1)
	[ -f "$here/$name.dict" ] && args+=(-dict="$here/$name.dict")
	if [ -d "$here/$name/regressions" ] && [ -n "$(ls -A "$here/$name/regressions")" ]; then
		if ! "$bin" "${args[@]}" "$here/$name/regressions"/* >"$work/replay.log" 2>&1; then
			echo "regression: see $work/replay.log" >"$work/result"
			return
		fi
	fi
	if ! "$bin" "${args[@]}" -max_total_time="$secs" "$work/corpus" "$here/$name/seeds" \
		>"$work/fuzz.log" 2>&1; then
		echo "failed: see $work/fuzz.log" >"$work/result"
		return
	fi
	echo "ok $(grep -E '^#[0-9]+[[:space:]]+DONE' "$work/fuzz.log" | tail -n 1)" >"$work/result"
}

echo "fuzzing ${names[*]}: ${secs}s each, $jobs at a time"
running=0
for name in "${names[@]}"; do
	if [ "$running" -ge "$jobs" ]; then
		wait -n || true
		running=$((running - 1))
	fi
	fuzz_one "$name" &
	running=$((running + 1))
done
wait

failed=()
for name in "${names[@]}"; do
	work=$out/$name
	result=$(cat "$work/result" 2>/dev/null || echo "failed: no result")
	echo "== fuzz_$name: $result"
	case $result in
	ok*) ;;
	*)
		for log in "$work/replay.log" "$work/fuzz.log"; do
			[ -f "$log" ] && tail -n 60 "$log"
		done
		for f in "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-*; do
			[ -f "$f" ] || continue
			echo "fuzz_$name: input $f, base64: $(base64 -w0 "$f")"
		done
		failed+=("$name")
		;;
	esac
done
if [ ${#failed[@]} -gt 0 ]; then
	echo "fuzzing failed: ${failed[*]}" >&2
	exit 1
fi
echo "fuzzing: no crash, no leak, no failed check"
