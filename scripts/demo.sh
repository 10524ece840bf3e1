#!/usr/bin/env bash
# The demo (the README's first command): installs what is missing, builds, and runs
# `kubehero demo`: a hub on a temporary SQLite data dir, a registered cluster, the real agent
# sampling demo workloads in their own cgroups (when root), then the costs.
# Extra arguments go to `kubehero demo` (e.g. --duration 60s --flush-interval 15s).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "==> building kubehero, kubehero-hub and kubehero-agent (the first build takes several minutes)"
swift build --product kubehero-hub
swift build --product kubehero-agent
swift build --product kubehero
exec "$(swift build --show-bin-path)/kubehero" demo "$@"
