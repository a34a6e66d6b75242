#!/usr/bin/env bash
# The main job, end to end on one machine: build kplay, bring up 3 air-gapped Debian lab hosts
# with systemd, run the embedded preflight playbook (step 00 of the offline install) against
# them twice (the second run must change nothing), and take the lab down again.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
    echo "demo.sh: the lab needs root (network namespaces, mounts); re-run as root" >&2
    exit 1
fi
sh tests/install-deps.sh
cargo build --release
K=./target/release/kplay
trap '$K lab down --name demo >/dev/null 2>&1 || true' EXIT
inv=$($K lab up --hosts 3 --name demo | tail -n 1)
echo "lab inventory: $inv"
# Map the lab hosts into the cluster groups the playbooks use.
cluster=$(mktemp -d)/hosts.ini
{
    sed -n '/^\[lab\]/,/^$/p' "$inv" | sed 's/^\[lab\]/[kube_control_plane]/'
    echo "[etcd:children]"; echo "kube_control_plane"; echo
    echo "[kube_node:children]"; echo "kube_control_plane"; echo
    echo "[k8s_cluster:children]"; echo "kube_control_plane"; echo "kube_node"; echo
    sed -n '/^\[all:vars\]/,$p' "$inv"
} > "$cluster"
$K run playbooks/00-preflight.yml -i "$cluster"
$K run playbooks/00-preflight.yml -i "$cluster"
