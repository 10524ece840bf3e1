#!/usr/bin/env bash
# Lints, renders and validates the Helm chart offline (see check-chart.py). The Python tools
# (deploy/helm/requirements.txt) live in .venv-tools/; when they are missing this installs
# them from PyPI, as scripts/setup.sh does. scripts/test.sh runs this before the Swift build.
# Arguments go to check-chart.py (--quick skips the values-are-used check).
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=.venv-tools/bin/python
if ! "$PY" -c 'import helm_python, kubernetes_validate' 2>/dev/null; then
  echo "check-chart: installing $(tr '\n' ' ' < deploy/helm/requirements.txt)into .venv-tools" >&2
  [ -x "$PY" ] || python3 -m venv .venv-tools
  "$PY" -m pip install -q -r deploy/helm/requirements.txt
fi
exec "$PY" deploy/helm/check-chart.py "$@"
