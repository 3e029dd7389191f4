#!/usr/bin/env bash
# Vagrant provisioning: the same code path as the README's set-up, plus a role step.
#   provision.sh control-plane|worker MY_IP CP_IP
#
# control-plane: mkpy up --host-network --advertise-address MY_IP, then a join token and the CA
#                hash go to /vagrant/.mkpy/join.env (the synced folder, shared with the workers)
# worker:        wait for join.env, then mkpy node join --server https://CP_IP:6443 ...
# With MKPY_ETCD_NAME set (Vagrantfile MKPY_ETCD=3) this VM also runs an etcd member, and the
# control plane keeps its state in that 3-member cluster: any one VM may go, the store stays.
set -euo pipefail
ROLE=${1:-control-plane}
MY_IP=${2:?my private IP}
CP_IP=${3:?the control plane IP}
SHARE=/vagrant/.mkpy
JOIN_ENV=$SHARE/join.env

/vagrant/scripts/setup.sh

start_etcd_member() {
  # A systemd unit of its own (the etcd package's service is disabled by setup.sh).
  [ -n "${MKPY_ETCD_NAME:-}" ] || return 0
  systemctl is-active --quiet mkpy-etcd && return 0
  systemd-run --unit mkpy-etcd --property Restart=always \
    etcd --name "$MKPY_ETCD_NAME" --data-dir /var/lib/mkpy-etcd \
      --listen-client-urls "http://$MY_IP:2379,http://127.0.0.1:2379" \
      --advertise-client-urls "http://$MY_IP:2379" \
      --listen-peer-urls "http://$MY_IP:2380" --initial-advertise-peer-urls "http://$MY_IP:2380" \
      --initial-cluster "$MKPY_ETCD_CLUSTER" --initial-cluster-state new \
      --initial-cluster-token mkpy-lab
  echo "provision: etcd member $MKPY_ETCD_NAME started ($MKPY_ETCD_CLUSTER)"
}

control_plane() {
  local store=()
  [ -n "${MKPY_ETCD_NAME:-}" ] && store=(--store "etcd://$MKPY_ETCD_ENDPOINTS")
  local up=(mkpy up --host-network --advertise-address "$MY_IP" --node-name "$(hostname)" "${store[@]}")
  local publish="mkdir -p $SHARE && {
      echo MKPY_SERVER=https://$CP_IP:6443
      echo MKPY_TOKEN=\$(mkpy token create --description vagrant)
      echo MKPY_CA_HASH=\$(mkpy token ca-hash)
    } > $JOIN_ENV.tmp && mv $JOIN_ENV.tmp $JOIN_ENV"
  rm -f "$JOIN_ENV"
  if [ ${#store[@]} -gt 0 ]; then
    # etcd has no quorum until w1 starts its member, and Vagrant provisions one VM at a time:
    # so `mkpy up` waits in the background and publishes the join file once it is up.
    systemd-run --unit mkpy-provision-cp --property Type=oneshot --no-block \
      bash -c "${up[*]} --timeout 900 && $publish"
    echo "provision: mkpy up runs in the background until etcd has quorum (journalctl -u mkpy-provision-cp)"
  else
    "${up[@]}"
    bash -c "$publish"
    echo "provision: control plane up; join details in $JOIN_ENV"
  fi
}

worker() {
  echo "provision: waiting for $JOIN_ENV from the control plane"
  for _ in $(seq 1 900); do
    [ -s "$JOIN_ENV" ] && break
    sleep 1
  done
  [ -s "$JOIN_ENV" ] || { echo "provision: no $JOIN_ENV after 15 min; is the /vagrant folder two-way?" >&2; exit 1; }
  # shellcheck disable=SC1090
  . "$JOIN_ENV"
  mkpy node join --server "$MKPY_SERVER" --token "$MKPY_TOKEN" --ca-cert-hash "$MKPY_CA_HASH" \
    --host-network --node-ip "$MY_IP" --node-name "$(hostname)"
}

start_etcd_member
case "$ROLE" in
  control-plane) control_plane ;;
  worker) worker ;;
  *) echo "provision.sh: role must be control-plane or worker, not $ROLE" >&2; exit 2 ;;
esac
echo "provision: $(hostname) ($MY_IP) is a $ROLE"
