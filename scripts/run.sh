#!/usr/bin/env bash
# One command for a new user: set up .venv, load the sample registry, start the service.
# Arguments go to `yizhan serve` (e.g. scripts/run.sh --port 8150 --host 0.0.0.0).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/_venv.sh
yizhan_venv
# The sample goes where serve will read it: the same --database, if one is given.
demo_args=()
for ((i = 1; i <= $#; i++)); do
    case "${!i}" in
        --database) j=$((i + 1)); demo_args=(--database "${!j:-}") ;;
        --database=*) demo_args=("${!i}") ;;
    esac
done
.venv/bin/yizhan demo "${demo_args[@]}"
exec .venv/bin/yizhan serve "$@"
