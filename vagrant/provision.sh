#!/usr/bin/env bash
# Vagrant provisioning: the same code path as the README's set-up, plus a role step.
#   provision.sh [control-plane|worker]
# The role steps (mkpy up / mkpy node join) arrive with the multi-machine work.
set -euo pipefail
ROLE=${1:-control-plane}
/vagrant/scripts/setup.sh
echo "provision: $(hostname) set up as $ROLE"
