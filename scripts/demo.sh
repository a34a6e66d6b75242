#!/usr/bin/env bash
# The main job, end to end on one machine: build kplay, then `kplay deploy --lab demo` brings up
# 5 air-gapped Debian lab hosts with systemd (a bootstrap node, 3 control plane/etcd nodes behind
# a keepalived VIP, 1 worker), builds the offline bundle once (Kubernetes from Debian's own source
# package; cached under /var/cache/kplay), deploys steps 00-05 from it, and shows
# `kubectl get nodes` of the HA cluster. The lab is taken down at the end (KPLAY_DEMO_KEEP=1
# keeps it; `kplay lab down --name demo` removes it later).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
    echo "demo.sh: the lab needs root (network namespaces, mounts); re-run as root" >&2
    exit 1
fi
sh tests/install-deps.sh
cargo build --release
K=./target/release/kplay
if [ "${KPLAY_DEMO_KEEP:-0}" != 1 ]; then
    trap '$K lab down --name demo >/dev/null 2>&1 || true' EXIT
fi
$K deploy --lab demo
inv=/var/lib/kplay/lab/demo/deploy/hosts.ini
$K adhoc 'kube_control_plane[0]' -i "$inv" -m command -a 'kubectl get nodes -o wide'
