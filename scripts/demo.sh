#!/usr/bin/env bash
# The demo: a hub on a temporary SQLite data dir, a registered cluster, simulated agents
# streaming a few minutes of batches over mTLS, then the costs through the CLI.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

step "building (first build takes several minutes)"
swift build --product kubehero-hub >/dev/null
swift build --product kubehero >/dev/null
swift build --product kubehero-bench >/dev/null
BIN="$(swift build --show-bin-path)"

DATA="$(mktemp -d /tmp/kubehero-demo.XXXXXX)"
API_PORT="${KUBEHERO_DEMO_API_PORT:-18443}"
INGEST_PORT="${KUBEHERO_DEMO_INGEST_PORT:-19443}"
HUB_PID=""
cleanup() { [ -n "$HUB_PID" ] && kill "$HUB_PID" 2>/dev/null && wait "$HUB_PID" 2>/dev/null; true; }
trap cleanup EXIT

step "kubehero-hub init --data-dir $DATA/hub"
"$BIN/kubehero-hub" init --data-dir "$DATA/hub" --api-url "https://127.0.0.1:$API_PORT"

step "kubehero-hub serve (API https://127.0.0.1:$API_PORT, mTLS ingest 127.0.0.1:$INGEST_PORT)"
"$BIN/kubehero-hub" serve --data-dir "$DATA/hub" --api-listen "127.0.0.1:$API_PORT" \
  --ingest-listen "127.0.0.1:$INGEST_PORT" --log-level warning &
HUB_PID=$!
export KUBEHERO_CONFIG="$DATA/hub/admin.yaml"
for _ in $(seq 1 100); do
  "$BIN/kubehero" cluster list >/dev/null 2>&1 && break
  kill -0 "$HUB_PID" 2>/dev/null || { echo "hub exited" >&2; exit 1; }
  sleep 0.1
done

step "kubehero cluster add --name demo-us-east-1 --cloud aws --region us-east-1 --label env=demo"
"$BIN/kubehero" cluster add --name demo-us-east-1 --cloud aws --region us-east-1 --label env=demo \
  --out "$DATA/demo-us-east-1-cert.pem"
"$BIN/kubehero" cluster list

step "3 simulated nodes (100 containers each) stream 5 one-minute batches over mTLS"
"$BIN/kubehero-bench" ingest --hub "127.0.0.1:$INGEST_PORT" --cert "$DATA/demo-us-east-1-cert.pem" \
  --agents 3 --batches 5 --containers 100 | grep -E "acknowledged|container-samples|throughput"

step "kubehero cost --window 24h --aggregate namespace"
"$BIN/kubehero" cost --window 24h --aggregate namespace

step "kubehero cost --window 24h --aggregate label:team"
"$BIN/kubehero" cost --window 24h --aggregate label:team

step "kubehero series --window 1h --step 1m --namespace payments"
"$BIN/kubehero" series --window 1h --step 1m --namespace payments

step "where the data lives"
echo "hub data dir:   $DATA/hub   (SQLite: $DATA/hub/hub.sqlite, CA: $DATA/hub/ca.pem)"
echo "CLI config:     $DATA/hub/admin.yaml"
echo "cluster bundle: $DATA/demo-us-east-1-cert.pem"
echo "(the hub is stopped now; remove $DATA when done)"
