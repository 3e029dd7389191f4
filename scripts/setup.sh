#!/usr/bin/env bash
# Everything minikube_py needs on a fresh Debian 12 / Ubuntu 24.04 machine, as root.
# Idempotent: a second run installs only what is missing and rebuilds the project.
#
#   apt packages -> /opt/mkpy/venv (system python3) -> this checkout, editable, with the
#   native shim built -> mkpy* commands linked into /usr/local/bin
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
VENV=${MKPY_VENV:-/opt/mkpy/venv}

if [ "$(id -u)" != 0 ]; then
  echo "setup.sh: run as root (sudo $0): it installs packages and links /usr/local/bin/mkpy" >&2
  exit 1
fi

# What each package is for:
#   python3-venv python3-dev gcc libc6-dev libcap-dev  the venv, the cffi shim, python-prctl
#   iproute2 iptables conntrack kmod util-linux      namespaces, links, NAT, modules, mounts
#   busybox-static                                   the offline base image (rootfs/)
#   user-mode-linux uml-utilities                    the cgroup-v2 VM lane and multi-kernel clusters
#   docker-registry skopeo umoci                     a real registry and image tools for interop tests
#   etcd-server etcd-client                          the multi-machine store
#   runc crun containernetworking-plugins hyperfine  baselines for tests and benchmarks
#   curl                                             tests/integration/up calls Services from the node netns
#   vagrant                                          `vagrant validate` of the lab cluster's Vagrantfile
APT_PACKAGES=(
  python3 python3-venv python3-dev gcc libc6-dev libcap-dev
  iproute2 iptables conntrack kmod util-linux
  busybox-static user-mode-linux uml-utilities
  docker-registry skopeo umoci etcd-server etcd-client
  runc crun containernetworking-plugins hyperfine
  curl
  vagrant
  # the OCI runtime-tools library (config validator + generator), built offline by
  # tests/integration/runtime/test_ocitools.py to check the runtime against it
  golang-go golang-github-opencontainers-runtime-tools-dev
  # containerd + ctr: tests/integration/runtime/test_containerd.py runs mkpy-runc under its runc shim
  containerd
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # The registry, etcd and containerd packages start system services; the project starts its own.
  if [ -d /run/systemd/system ]; then
    systemctl disable --now docker-registry etcd containerd >/dev/null 2>&1 || true
  fi
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "setup.sh: creating $VENV"
  mkdir -p "$(dirname "$VENV")"
  /usr/bin/python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip setuptools wheel
fi

echo "setup.sh: installing minikube_py from $REPO (editable, native shim built in place)"
rm -rf "$REPO/build" "$REPO"/*.egg-info
"$VENV/bin/pip" install -q --disable-pip-version-check -e "$REPO[test]"
# mkpy-runc runs once per container verb: replace pip's console script with one that
# starts Python with -S (no site.py, ~15 ms less per call; runtime/launcher.py says why).
"$VENV/bin/python" -m minikube_py.runtime.launcher "$VENV/bin/mkpy-runc"
# An editable install is never compiled, and with PYTHONDONTWRITEBYTECODE=1 in the environment
# Python never writes the cache either: then every mkpy-runc call compiles every module it
# imports (~20 ms of CPU per call, benchmarks/runtime_bench.py "no .pyc"). Compile once here.
"$VENV/bin/python" -m compileall -q "$REPO/minikube_py" >/dev/null

for exe in "$VENV"/bin/mkpy "$VENV"/bin/mkpy-*; do
  [ -e "$exe" ] && ln -sf "$exe" "/usr/local/bin/$(basename "$exe")"
done

# Base images, once the image layer can build them (rootfs/).
if [ -x "$REPO/rootfs/build.sh" ]; then
  "$REPO/rootfs/build.sh"
fi
echo "setup.sh: ready: $("$VENV/bin/mkpy" version)"
