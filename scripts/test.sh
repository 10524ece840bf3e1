#!/usr/bin/env bash
# The test command: installs what is missing, builds everything (tests included) and runs
# every test against real components (SQLite files, PostgreSQL, TLS on loopback, gRPC over mTLS).
# .ci/run calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash deploy/helm/check-chart.sh   # the Helm chart, offline (docs/helm.md, "CI checks")
swift build --build-tests
# A throwaway PostgreSQL on 127.0.0.1:55432 for the PostgreSQL backend's tests (exports
# KUBEHERO_TEST_POSTGRES_URL), stopped and deleted when the tests end.
eval "$(bash scripts/postgres.sh start)"
trap 'bash scripts/postgres.sh stop' EXIT
swift test --skip-build --experimental-maximum-parallelization-width "${KUBEHERO_TEST_WIDTH:-4}" "$@"
