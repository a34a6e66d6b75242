#!/bin/bash
# A temporary apt repository for the roles' lab test (until `kplay bundle build` is merged): every
# package offline_packages lists for steps 01/02 and the HA endpoint, with its dependency closure,
# fetched with this machine's apt (Debian 12, as the lab). Cached by the package list's hash.
# Prints the repository directory.
set -euo pipefail
PKGS="$*"
key=$(echo "$PKGS" | sha256sum | cut -c1-16)
R=/var/cache/kplay/roles-testrepo/$key
if [ -f "$R/dists/kplay/Release" ]; then echo "$R"; exit 0; fi
mkdir -p "$R.tmp/pool" "$R.tmp/dists/kplay/main/binary-amd64"
cd "$R.tmp/pool"
[ -n "$(find /var/lib/apt/lists -name '*Packages*' -print -quit)" ] || apt-get update -qq
deps=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces --no-enhances $PKGS | grep -E '^[a-z0-9]' | sort -u)
real=$( (apt-cache --no-all-versions show $deps 2>/dev/null || true) | sed -n 's/^Package: //p' | sort -u)
apt-get download -q $real >/dev/null
cd "$R.tmp"
dpkg-scanpackages -m pool /dev/null > dists/kplay/main/binary-amd64/Packages 2>/dev/null
gzip -kf dists/kplay/main/binary-amd64/Packages
{
  echo "Suite: kplay"; echo "Codename: kplay"; echo "Components: main"; echo "Architectures: amd64"
  echo "Date: $(date -Ru)"; echo "SHA256:"
  for f in main/binary-amd64/Packages main/binary-amd64/Packages.gz; do
    echo " $(sha256sum dists/kplay/$f | cut -d' ' -f1) $(stat -c %s dists/kplay/$f) $f"
  done
} > dists/kplay/Release
rm -rf "$R"; mv "$R.tmp" "$R"
echo "$R"
