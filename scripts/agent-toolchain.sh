#!/bin/sh
# Installs what builds kplay's agent against the glibc 2.17 baseline (CentOS 7 and everything
# newer): Zig from PyPI (`ziglang`, in a venv) and cargo-zigbuild from crates.io. Both land in
# /var/cache/kplay/toolchain (or $KPLAY_TOOLCHAIN_DIR) under directories named by their versions,
# so a second run costs nothing. Called by build.rs (build/agent.rs) when the agent is not cached,
# and by tests/run.sh so CI logs show what it costs. Prints, as its last two lines,
# `python=<venv python>` and `zigbuild=<cargo-zigbuild>`; exits non-zero when either cannot be had
# (no network, no venv module): the build then falls back to a host-built agent.
set -eu

ZIG_VERSION=0.15.2
ZIGBUILD_VERSION=0.24.1
root=${KPLAY_TOOLCHAIN_DIR:-/var/cache/kplay/toolchain}
zig_dir="$root/ziglang-$ZIG_VERSION"
zb_dir="$root/cargo-zigbuild-$ZIGBUILD_VERSION"
mkdir -p "$root"

now() { date +%s; }

if [ ! -x "$zig_dir/venv/bin/python3" ] || ! "$zig_dir/venv/bin/python3" -m ziglang version >/dev/null 2>&1; then
    t0=$(now)
    tmp="$root/.ziglang-$ZIG_VERSION.$$"
    rm -rf "$tmp"
    python3 -m venv "$tmp/venv" >&2
    "$tmp/venv/bin/python3" -m pip install -q --disable-pip-version-check "ziglang==$ZIG_VERSION" >&2
    # Two builds installing at once: the first rename wins, the other copy is dropped.
    mv -T "$tmp" "$zig_dir" 2>/dev/null || rm -rf "$tmp"
    echo "agent-toolchain: ziglang $ZIG_VERSION installed in $(( $(now) - t0 ))s" >&2
fi

if [ ! -x "$zb_dir/bin/cargo-zigbuild" ]; then
    t0=$(now)
    tmp="$root/.cargo-zigbuild-$ZIGBUILD_VERSION.$$"
    rm -rf "$tmp"
    # One job: this shares the machine with the build that asked for it.
    cargo install -q cargo-zigbuild --version "$ZIGBUILD_VERSION" --locked --no-default-features \
        -j 1 --root "$tmp" >&2
    mv -T "$tmp" "$zb_dir" 2>/dev/null || rm -rf "$tmp"
    echo "agent-toolchain: cargo-zigbuild $ZIGBUILD_VERSION installed in $(( $(now) - t0 ))s" >&2
fi

echo "python=$zig_dir/venv/bin/python3"
echo "zigbuild=$zb_dir/bin/cargo-zigbuild"
