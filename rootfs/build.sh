#!/usr/bin/env bash
# Build the offline base image busybox:latest from Debian's busybox-static and import it
# into the node's image store. Idempotent and quick (about a second): the same package
# gives the same digest, so a second run changes nothing.
#
#   rootfs/build.sh [--root DIR] [--oci DIR] [--busybox PATH]
#   store root: --root, else $MKPY_ROOT, else /var/lib/mkpy
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${MKPY_PYTHON:-/opt/mkpy/venv/bin/python}
[ -x "$PYTHON" ] || PYTHON=python3
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
exec "$PYTHON" -m minikube_py.image.baseimage "$@"
