#!/bin/sh
# Prints the path of a minimal root tree of the oldest Debian release this machine can fetch
# (bullseye, glibc 2.31: buster and older are gone from the mirrors these machines reach), built
# once with debootstrap from the mirror apt already uses and cached under /var/cache/kplay/chroot.
# tests/agent_binary.rs runs kplay's shipped agent inside it (chroot).
set -eu
SUITE=${1:-bullseye}
root=/var/cache/kplay/chroot/debian-$SUITE-minbase
if [ ! -x "$root/bin/sh" ]; then
    # Comment lines are skipped: Debian's images note the snapshot a source was pinned from there,
    # and snapshot.debian.org is not reachable from these machines.
    mirror=$(grep -rhvE '^[[:space:]]*#' /etc/apt/sources.list /etc/apt/sources.list.d 2>/dev/null |
        grep -oE 'https?://[^ ]+/debian/?' | grep -v security | head -n1)
    mirror=${mirror:-http://deb.debian.org/debian}
    t0=$(date +%s)
    tmp="$root.partial.$$"
    rm -rf "$tmp"
    mkdir -p "$(dirname "$root")"
    debootstrap --variant=minbase "$SUITE" "$tmp" "$mirror" >&2
    mv -T "$tmp" "$root" 2>/dev/null || rm -rf "$tmp"
    echo "old-debian-root: debian $SUITE from $mirror in $(( $(date +%s) - t0 ))s" >&2
fi
echo "$root"
