# Make .venv with Python 3.11 and install yizhan into it.
# Sourced by run.sh and test.sh, which then call `yizhan_venv [extras]` (e.g. "dev"); or run
# it as `bash scripts/_venv.sh [extras]`. A function, not the sourced file's "$1": a sourced
# file sees its caller's arguments, so `run.sh --port 8150` once became the extras ".[--port]".
set -euo pipefail
yizhan_find_python() {
    for candidate in "${PYTHON:-}" python3.11 python3 python; do
        [ -n "$candidate" ] || continue
        command -v "$candidate" >/dev/null 2>&1 || continue
        if "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
            echo "$candidate"; return 0
        fi
    done
    echo "yizhan needs Python 3.11 (set PYTHON=/path/to/python3.11)" >&2
    return 1
}
yizhan_venv() {
    local extras="${1:-}" py spec stamp
    case "$extras" in
        "" | dev) ;;
        *) echo "scripts/_venv.sh: unknown extras '$extras' (none, or dev)" >&2; return 2 ;;
    esac
    if [ ! -x .venv/bin/python ]; then
        py=$(yizhan_find_python)
        echo "creating .venv with $($py --version)" >&2
        "$py" -m venv .venv
    fi
    spec="."
    [ -n "$extras" ] && spec=".[$extras]"
    stamp=".venv/.yizhan-installed-$(echo "$extras" | tr -c 'a-z0-9' '_')"
    if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
        echo "installing yizhan ($spec) into .venv" >&2
        .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
        .venv/bin/python -m pip install --quiet --disable-pip-version-check -e "$spec"
        touch "$stamp"
    fi
}
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    cd "$(dirname "$0")/.."
    yizhan_venv "$@"
fi
