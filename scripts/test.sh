#!/usr/bin/env bash
# One command for a new user or CI: set up .venv with the dev extras and run every test.
# Extra arguments go to pytest (e.g. scripts/test.sh -m "not slow" -x).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/_venv.sh
yizhan_venv dev
export OPENBLAS_NUM_THREADS=1
exec .venv/bin/python -m pytest "$@"
