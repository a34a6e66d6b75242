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

export CARGO_TERM_COLOR=never
# Style gates first (cheap, and a failure here needs no test run to explain it).
cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
cargo build --workspace --all-targets
# A failing test run must not stop the script here (set -e): the sh-path pass and the summary
# below still run, and the exit status says whether anything failed.
set +e
cargo test --workspace --no-fail-fast 2>&1 | tee /tmp/kplay-test.log
status=${PIPESTATUS[0]}
# The modules' tests run on the local transport, where kplay's agent serves file operations
# in-process; run them again on the sh path (what hosts without an agent get).
KPLAY_NO_AGENT=1 cargo test -p kplay-modules --no-fail-fast 2>&1 | tee -a /tmp/kplay-test.log
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
set -e
passed=$(grep -Eo 'test result: [a-zA-Z]+\. [0-9]+ passed' /tmp/kplay-test.log | awk '{s+=$4} END {print s+0}')
failed=$(grep -Eo '[0-9]+ failed' /tmp/kplay-test.log | awk '{s+=$1} END {print s+0}')
echo "${passed} passed, ${failed} failed"
exit "$status"
