#!/usr/bin/env bash
# The test command (README): installs what the tests need on a fresh Debian machine, then runs
# every test of the workspace: unit tests, the binary against local temp dirs, SSH against a
# real sshd, and the lab (real air-gapped Debian hosts with systemd in network namespaces).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -eq 0 ]; then
    sh tests/install-deps.sh
else
    echo "tests/run.sh: not root: skipping system package installation (lab and SSH tests need root)" >&2
fi

# kplay's agent is built against glibc 2.17 with Zig from PyPI and cargo-zigbuild (build/agent.rs
# installs them when missing); installing here shows what that costs in the log (cached: instant).
# The agent build itself is cached by its sources' hash; a fresh one prints its time as a cargo warning.
t0=$(date +%s)
sh scripts/agent-toolchain.sh >/dev/null ||
    echo "tests/run.sh: no agent toolchain: kplay falls back to a host-built agent (tests/agent_binary.rs fails)" >&2
echo "agent toolchain: $(( $(date +%s) - t0 )) s"

export CARGO_TERM_COLOR=never
# This checkout's own log: two checkouts testing at once must not count each other's results.
mkdir -p target
log="$PWD/target/kplay-test.log"
# Style gates first (cheap, and a failure here needs no test run to explain it).
cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
cargo build --workspace --all-targets
# A failing test run must not end the script here (set -e): the second run and the summary follow.
set +e
cargo test --workspace --no-fail-fast 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
# The modules' tests run on the local transport, where kplay's agent serves file operations
# in-process; run them again on the sh path (what hosts without an agent get).
KPLAY_NO_AGENT=1 cargo test -p kplay-modules --no-fail-fast 2>&1 | tee -a "$log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
set -e
passed=$(grep -Eo 'test result: [a-zA-Z]+\. [0-9]+ passed' "$log" | awk '{s+=$4} END {print s+0}')
failed=$(grep -Eo '[0-9]+ failed' "$log" | awk '{s+=$1} END {print s+0}')
echo "${passed} passed, ${failed} failed"
exit "$status"
