#!/usr/bin/env bash
# Runs the libFuzzer harnesses of a -DDROVER_FUZZ=ON build: each one first
# replays its regressions (tests/fuzz/NAME/regressions: inputs that once
# crashed it), then fuzzes for SECONDS from its seeds with its dictionary.
# A crash, a sanitizer report, a leak or a timeout fails the run; the input
# is kept in OUT/NAME/ and printed as base64.
#
#   tests/fuzz/run.sh BUILD_DIR [SECONDS] [NAME...]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:?usage: run.sh BUILD_DIR [SECONDS] [NAME...]}" && pwd)
secs=${2:-60}
shift $(($# > 1 ? 2 : 1))
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
	names=(conf conf_agent wire agent_wire secret queue http)
fi
out=${FUZZ_OUT:-$build/fuzz-out}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

failed=()
for name in "${names[@]}"; do
	bin=$build/tests/fuzz/fuzz_$name
	work=$out/$name
	rm -rf "$work"
	mkdir -p "$work/corpus"
	args=(-timeout=10 -rss_limit_mb=2048 -artifact_prefix="$work/" -print_final_stats=1)
	[ -f "$here/$name.dict" ] && args+=(-dict="$here/$name.dict")
	if [ -d "$here/$name/regressions" ] && [ -n "$(ls -A "$here/$name/regressions")" ]; then
		echo "== fuzz_$name: replaying $(ls "$here/$name/regressions" | wc -l) regressions"
		if ! "$bin" "${args[@]}" "$here/$name/regressions"/* >"$work/replay.log" 2>&1; then
			tail -n 40 "$work/replay.log"
			failed+=("$name (regression)")
			continue
		fi
	fi
	echo "== fuzz_$name: ${secs}s from $(ls "$here/$name/seeds" | wc -l) seeds"
	if ! "$bin" "${args[@]}" -max_total_time="$secs" "$work/corpus" "$here/$name/seeds" \
		>"$work/fuzz.log" 2>&1; then
		tail -n 60 "$work/fuzz.log"
		for f in "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-*; do
			[ -f "$f" ] || continue
			echo "fuzz_$name: input $f, base64: $(base64 -w0 "$f")"
		done
		failed+=("$name")
		continue
	fi
	grep -E '^#[0-9]+[[:space:]]+DONE' "$work/fuzz.log" | tail -n 1 | sed 's/^/   /' || true
done
if [ ${#failed[@]} -gt 0 ]; then
	echo "fuzzing failed: ${failed[*]}" >&2
	exit 1
fi
echo "fuzzing: ${names[*]}: no crash, no leak"
