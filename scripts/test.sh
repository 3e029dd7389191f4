#!/usr/bin/env bash
# The test command (the README's second command, and what CI runs):
# set everything up, lint, then unit + integration + VM-lane tests.
# Extra arguments go to pytest, e.g. `scripts/test.sh tests/unit -x`.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
VENV=${MKPY_VENV:-/opt/mkpy/venv}
start=$(date +%s)

"$REPO/scripts/setup.sh"
cd "$REPO"
echo "test.sh: ruff"
"$VENV/bin/ruff" check .
echo "test.sh: pytest"
set +e
# The slowest tests, VM-lane ones included, so a slower run shows where the time went.
"$VENV/bin/python" -m pytest --durations=25 "$@"
rc=$?
set -e
echo "test.sh: finished in $(( $(date +%s) - start ))s with pytest exit code $rc"
exit $rc
