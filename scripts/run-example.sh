#!/usr/bin/env bash
# Installs what drover needs, builds it, and runs droverd on the example
# configuration: the API and dashboard on http://127.0.0.1:9170.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh build
# git keeps no file modes but the executable bit, and droverd refuses secret
# files that group or others may read.
chmod 600 examples/secrets/api.token examples/secrets/queue.key
echo "droverd: dashboard and API on http://127.0.0.1:9170 ; try: ./build/client/droverctl/droverctl status"
exec ./build/supervisor/droverd -c examples/drover.yaml
