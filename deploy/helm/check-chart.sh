#!/usr/bin/env bash
# Lints, renders and validates the Helm chart offline (see check-chart.py). The Python tools
# live in .venv-tools/, which scripts/setup.sh makes; scripts/test.sh runs this before the
# Swift build. Arguments go to check-chart.py (--quick skips the values-are-used check).
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=.venv-tools/bin/python
if [ ! -x "$PY" ]; then
  echo "check-chart: $PY is missing: run bash scripts/setup.sh first" >&2
  exit 1
fi
exec "$PY" deploy/helm/check-chart.py "$@"
