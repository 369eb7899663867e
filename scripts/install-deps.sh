#!/usr/bin/env bash
# Installs every Debian 12 package drover needs to build, test and benchmark.
# Nothing is downloaded from anywhere but the Debian archive and the npm
# registry: the build runs `npm ci` for the dashboard's libraries (web/, from
# its package-lock.json), and bench/ fetches PM2 for the benchmarks. The
# browser tests drive Debian's chromium; no browser is downloaded.
set -euo pipefail

packages=(
	build-essential cmake pkg-config git clang libclang-rt-14-dev
	libzmq3-dev libczmq-dev libyaml-dev libcurl4-openssl-dev libcriterion-dev
	libmicrohttpd-dev libjansson-dev libsodium-dev libsqlite3-dev
	python3 python3-zmq curl sqlite3 procps iproute2 psmisc
	supervisor prometheus wrk hyperfine valgrind chromium
	# systemd (its unit directory); the man pages; the Python client's wheel;
	# the Debian package and its test (scripts/test-package.sh)
	systemd scdoc man-db python3-pip python3-setuptools python3-wheel
	debhelper dpkg-dev lintian
	# the clock jump test fakes the wall clock of droverd and its agents
	# (tests/integration/faults)
	libfaketime
)
# The dashboard's build (esbuild) and its browser tests (playwright-core)
# run on Node 18 or later: Debian's nodejs and npm, unless a node is there.
command -v node >/dev/null 2>&1 || packages+=(nodejs)
command -v npm >/dev/null 2>&1 || packages+=(npm)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	SUDO=""
	[ "$(id -u)" -eq 0 ] || SUDO=sudo
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# The Debian supervisor package starts a system supervisord; the benchmarks
# run their own, so keep the system one out of the way.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet supervisor 2>/dev/null; then
	systemctl stop supervisor || true
fi
