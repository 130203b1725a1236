#!/usr/bin/env bash
# Makes sure redis-server (and redis-cli) are installed, for the cluster tests
# (cmd/resound/cluster_test.go) and the cluster run of the real-client suite
# (scripts/e2e/cluster.sh). Installs Debian's redis-server with apt-get when
# missing: non-interactive, as root (or with passwordless sudo).
#
# The tests start their own redis-server processes on free loopback ports; a
# system service the package may start on :6379 is not used.
set -euo pipefail

if command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1; then
  echo "[redis] $(redis-server --version | head -n1)" >&2
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive
SUDO=""
if [ "$(id -u)" != 0 ]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "[redis] redis-server is missing and installing it needs root (or sudo)" >&2
    exit 1
  fi
  SUDO="sudo -n"
fi
echo "[redis] installing Debian's redis-server" >&2
$SUDO apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server redis-tools >/dev/null
command -v redis-server >/dev/null 2>&1 || { echo "[redis] redis-server is still not on PATH after apt-get install" >&2; exit 1; }
echo "[redis] $(redis-server --version | head -n1)" >&2
