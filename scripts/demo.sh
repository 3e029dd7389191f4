#!/usr/bin/env bash
# The main job (the README's first command): set everything up, then run the demo.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
"$REPO/scripts/setup.sh"
exec /usr/local/bin/mkpy demo "$@"
