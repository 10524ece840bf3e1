#!/usr/bin/env bash
# Installs what building and running KubeHero needs on a fresh Debian machine, once.
# Called by scripts/demo.sh and scripts/test.sh; safe to run again (it only installs what is
# missing). Needs root (or sudo) for apt-get.
set -euo pipefail

# Debian packages: the system SQLite library the embedded store links against; libbpf, libelf
# and bpftool, which build the agent's BPF programs into skeletons and load them (agent/bpf);
# iproute2 for the eBPF tests' network namespace; the PostgreSQL server the PostgreSQL
# backend's tests run against (scripts/postgres.sh).
PACKAGES=(libsqlite3-dev libbpf-dev libelf-dev zlib1g-dev bpftool iproute2 postgresql)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# Debian's postgresql package starts a cluster of its own on port 5432; the tests do not use it
# (scripts/postgres.sh starts a throwaway one on 55432).

command -v swift >/dev/null || { echo "setup: swift is not on PATH (Swift 6.3 or newer is needed)" >&2; exit 1; }

# --- Helm chart check (deploy/helm/check-chart.sh): Python tools in .venv-tools/ (git-ignored),
# from PyPI, installed only when missing. helm-python-sdk renders charts without a helm binary.
# A failure here only warns: the demo does not need them, and the chart check says what is missing.
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV_TOOLS="$REPO_ROOT/.venv-tools"
if ! "$VENV_TOOLS/bin/python" -c 'import helm_python, kubernetes_validate' 2>/dev/null; then
  echo "setup: installing $(tr '\n' ' ' < "$REPO_ROOT/deploy/helm/requirements.txt")into .venv-tools" >&2
  if ! python3 -c 'import ensurepip' 2>/dev/null; then
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-venv >/dev/null || true
  fi
  { python3 -m venv "$VENV_TOOLS" && "$VENV_TOOLS/bin/pip" install -q -r "$REPO_ROOT/deploy/helm/requirements.txt"; } ||
    echo "setup: warning: could not install the chart check's Python tools into .venv-tools" >&2
fi

# --- S3 forwarding test (Tests/KubeHeroS3Tests): moto's S3-compatible server, in .venv-tools/
# (git-ignored) like the other Python tools. The test skips, saying so, when it is missing.
S3_TOOLS=("moto[server]==5.2.5")
if ! "$VENV_TOOLS/bin/python" -c 'import moto.server, flask' 2>/dev/null; then
  echo "setup: installing ${S3_TOOLS[*]} into .venv-tools" >&2
  { [ -x "$VENV_TOOLS/bin/pip" ] || python3 -m venv "$VENV_TOOLS"; } &&
    "$VENV_TOOLS/bin/pip" install -q "${S3_TOOLS[@]}" ||
    echo "setup: warning: could not install moto into .venv-tools; the S3 forwarding test will be skipped" >&2
fi
