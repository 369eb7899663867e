#!/usr/bin/env bash
# Line and region coverage that a corpus reaches in the code a harness is
# for (llvm-cov's source-based coverage, which unlike libFuzzer's edge count
# leaves out the sanitizers' own checks):
#
#   tests/fuzz/coverage.sh NAME CORPUS_DIR...
#
# Builds build-fuzz-cov (the harnesses with -fprofile-instr-generate) when
# needed, runs every input of the corpora once, and prints llvm-cov's report
# for the files the harness targets.
set -euo pipefail
cd "$(dirname "$0")/../.."
name=${1:?usage: coverage.sh NAME CORPUS_DIR...}
shift
build=build-fuzz-cov
prof=$build/prof/$name
files=()
funcs= # a file:regex of functions reported on their own (a file the harness uses in part)
case $name in
conf) files=(lib/conf/*.c) ;;
conf_agent) files=(lib/conf/agent.c lib/conf/tree.c lib/conf/values.c lib/conf/errors.c) ;;
wire) files=(lib/wire/wire.c) ;;
agent_wire)
	files=(lib/wire/agent_wire.c)
	funcs='lib/view/view.c:view_proc_(from_)?json'
	;;
secret) files=(lib/base/secret.c lib/auth/certfile.c lib/auth/keys.c) ;;
queue)
	files=(lib/queue/queue_core.c lib/queue/queue_host.c lib/queue/queue_store.c)
	funcs='lib/queue/queue_host.c:(fuzz_queue\.c:)?(s_dispatch|s_end_pass|qh__reply[a-z_]*)'
	;;
http) files=(api/api.c api/routes.c api/metrics.c lib/view/view.c lib/logs/logs.c) ;;
hub)
	files=(lib/hub/hub.c)
	# hub.c is compiled into the harness: its statics are fuzz_hub.c:NAME
	funcs='lib/hub/hub.c:(fuzz_hub\.c:)?(s_on_(msg|hello|event|samples|tick|cmd_timer)|s_lose|s_prune|s_placeholders|s_send_state|s_groups_for|s_placed|s_may_report|s_cmd_(send|end)|hub_(apply|proc_cmd|group_cmd|logs|agents|metrics))'
	;;
agent)
	files=(agent/main.c lib/proc/core.c lib/proc/worker.c lib/proc/spawn.c lib/proc/ready.c)
	funcs='agent/main.c:(fuzz_agent\.c:)?(s_on_(msg|state|cmd|logreq|tick|samples|flush|change|removed)|s_hello|s_flush|s_event|s_write_authkey)'
	;;
*) echo "coverage.sh: unknown harness $name" >&2; exit 2 ;;
esac
cov="-fprofile-instr-generate -fcoverage-mapping"
CC=clang cmake -S . -B $build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDROVER_FUZZ=ON \
	-DDROVER_TESTS=OFF -DCMAKE_C_FLAGS="$cov" -DCMAKE_EXE_LINKER_FLAGS="$cov" >/dev/null
cmake --build $build -j"$(nproc)" --target fuzz_$name >/dev/null
rm -rf "$prof"
mkdir -p "$prof"
LLVM_PROFILE_FILE="$prof/%p.profraw" ASAN_OPTIONS=detect_leaks=0 \
	$build/tests/fuzz/fuzz_$name -runs=0 "$@" >"$prof/run.log" 2>&1
llvm-profdata-14 merge -sparse "$prof"/*.profraw -o "$prof/merged.profdata"
llvm-cov-14 report $build/tests/fuzz/fuzz_$name -instr-profile="$prof/merged.profdata" \
	"${files[@]}"
if [ -n "$funcs" ]; then
	llvm-cov-14 report -show-functions $build/tests/fuzz/fuzz_$name \
		-instr-profile="$prof/merged.profdata" "${funcs%%:*}" | grep -E "^Name|^(${funcs#*:}) "
fi
