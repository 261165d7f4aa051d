#!/usr/bin/env bash
# One command for a new user or CI: set up .venv with the dev extras and run every test.
# Extra arguments go to pytest (e.g. scripts/test.sh -m "not slow" -x).
#
# The suite runs in two passes: every test but the timed ones on one worker per core (at
# most 4; pytest-xdist), then the tests marked `serial` (a page ready within its goal,
# measured in wall time) alone, so that no other test shares the machine with them. Give
# -n yourself (or YIZHAN_TEST_WORKERS=1) to run in one pass, as you choose.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/_venv.sh
yizhan_venv dev
export OPENBLAS_NUM_THREADS=1
py=.venv/bin/python

workers="${YIZHAN_TEST_WORKERS:-$(nproc 2>/dev/null || echo 1)}"
case "$workers" in
    '' | *[!0-9]*)
        echo "scripts/test.sh: YIZHAN_TEST_WORKERS is a number of workers (1: one process), not '$workers'" >&2
        exit 2
        ;;
esac
[ "$workers" -gt 4 ] && workers=4
for arg in "$@"; do
    case "$arg" in
        -n | -n* | --numprocesses | --numprocesses=* | --serial | --serial=*) workers=0 ;;
    esac
done
if [ "$workers" -le 1 ]; then
    exec "$py" -m pytest "$@"
fi

# pytest's "no tests ran" (5) fails a pass only when the other ran none either.
first=0 second=0
"$py" -m pytest -n "$workers" --serial=skip "$@" || first=$?
echo "== the timed tests, alone (tests marked serial) ==" >&2
"$py" -m pytest --serial=only "$@" || second=$?
if [ "$first" -eq 5 ] && [ "$second" -eq 5 ]; then exit 5; fi
[ "$first" -eq 5 ] && first=0
[ "$second" -eq 5 ] && second=0
[ "$first" -ne 0 ] && exit "$first"
exit "$second"
