#!/usr/bin/env bash
# One command for a new user: set up .venv, load the sample registry, start the service.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/_venv.sh
.venv/bin/yizhan demo
exec .venv/bin/yizhan serve "$@"
