#!/usr/bin/env bash
# Regenerates the BudgetPolicy JSON Schema (policies/budgetpolicy.schema.json) and the Helm
# chart's CRD (deploy/helm/kubehero/templates/crd-budgetpolicy.yaml) from their one definition,
# Sources/KubeHeroPolicy/PolicySchema.swift, with `kubehero policy schema`.
# KubeHeroPolicyTests.PolicySchemaTests fails while a committed file differs from this output.
set -euo pipefail
cd "$(dirname "$0")/.."
# --build-tests: the same build the tests use, so the two never invalidate each other.
swift build --build-tests >/dev/null
BIN="$(swift build --build-tests --show-bin-path)/kubehero"
"$BIN" policy schema > policies/budgetpolicy.schema.json
"$BIN" policy schema --crd > deploy/helm/kubehero/templates/crd-budgetpolicy.yaml
echo "generated policies/budgetpolicy.schema.json and deploy/helm/kubehero/templates/crd-budgetpolicy.yaml"
