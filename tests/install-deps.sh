#!/bin/sh
# Installs, on a Debian 12 machine, every system tool the kplay lab and the integration tests use.
# Idempotent and non-interactive: packages already present are not touched, and `apt-get update`
# runs only when something is missing. Must run as root.
set -eu

PKGS="openssh-server sudo python3-venv python3-pip debootstrap debian-archive-keyring iproute2 nftables openssh-client dpkg-dev procps util-linux mount ca-certificates gpgv docker-registry containerd skopeo"

if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps.sh: must run as root (apt-get install needs it); re-run with sudo" >&2
    exit 1
fi

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done

if [ -z "$missing" ]; then
    echo "install-deps.sh: all present ($PKGS)"
    exit 0
fi

echo "install-deps.sh: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086 # word splitting of the package list is intended
apt-get install -y -q --no-install-recommends $missing
