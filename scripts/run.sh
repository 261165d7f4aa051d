#!/usr/bin/env bash
# One command for a new user: set up .venv, load the sample registry, start the service.
# Arguments go to `yizhan serve` (e.g. scripts/run.sh --port 8150 --host 0.0.0.0), except
# --national: the national sample (yizhan demo --national, ~186,000 stations over the
# country's 2,848 counties) in its own registry, data/yizhan-national.sqlite3 unless
# --database names one, served with YIZHAN_DISTRICTS_SOURCE=china.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/_venv.sh
yizhan_venv
# The sample goes where serve will read it: the same --database, if one is given.
demo_args=()
serve_args=()
national=0
database=0
for ((i = 1; i <= $#; i++)); do
    case "${!i}" in
        --national) national=1; continue ;;
        --database) j=$((i + 1)); demo_args+=(--database "${!j:-}"); database=1 ;;
        --database=*) demo_args+=("${!i}"); database=1 ;;
    esac
    serve_args+=("${!i}")
done
if ((national)); then
    if ((!database)); then
        demo_args+=(--database sqlite:///data/yizhan-national.sqlite3)
        serve_args+=(--database sqlite:///data/yizhan-national.sqlite3)
    fi
    demo_args+=(--national)
    export YIZHAN_DISTRICTS_SOURCE=china
fi
.venv/bin/yizhan demo "${demo_args[@]}"
exec .venv/bin/yizhan serve "${serve_args[@]}"
