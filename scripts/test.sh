#!/usr/bin/env bash
# The test command: installs what is missing, builds everything (tests included) and runs
# every test against real components (SQLite files, TLS on loopback, gRPC over mTLS).
# .ci/run calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash deploy/helm/check-chart.sh   # the Helm chart, offline (docs/helm.md, "CI checks")
swift build --build-tests
swift test --skip-build "$@"
