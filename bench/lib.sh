#!/usr/bin/env bash
# Shared helpers for the benchmarks in bench/: tool checks, the Python virtualenvs that hold the
# reference engines (ansible-core 2.19; ansible-core 2.17 + Mitogen 0.3), lab up/down with cleanup
# on exit, hyperfine wrappers that leave JSON behind, and small arithmetic for ratios.
#
# Sourced, never executed. Every function is safe to call again: venvs are reused when their
# recorded requirements match, labs are torn down before being brought up under the same name.

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT_DIR="$(cd "$BENCH_DIR/.." && pwd)"
# Results of the last run of each script (hyperfine JSON, logs); gitignored with the venvs.
BENCH_OUT="${BENCH_OUT:-$BENCH_DIR/.venv-out}"
KPLAY="${KPLAY:-$ROOT_DIR/target/release/kplay}"

# Requirement sets of the reference engines. Mitogen is not pinned: `bench_mitogen_check` refuses a
# release whose own supported-version range does not include the installed ansible-core.
ANSIBLE_219_SPEC=("ansible-core>=2.19,<2.20")
MITOGEN_SPEC=("ansible-core>=2.17,<2.18" "mitogen>=0.3,<0.4")

log() { printf '[bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# Installs a Debian package when its command is missing (root only), else fails with the hint.
bench_need() {
    local cmd="$1" pkg="$2"
    command -v "$cmd" >/dev/null 2>&1 && return 0
    if [ "$(id -u)" -eq 0 ]; then
        log "installing Debian package $pkg (for $cmd)"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$pkg" >/dev/null \
            || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$pkg" >/dev/null; } \
            || die "could not install $pkg"
    else
        die "$cmd not found: apt-get install $pkg"
    fi
}

# The release binary. Built when missing or when BENCH_BUILD=1 (cargo is a no-op when up to date).
bench_kplay() {
    if [ ! -x "$KPLAY" ] || [ "${BENCH_BUILD:-0}" = 1 ]; then
        log "cargo build --release (target shared with others: the lock wait is normal)"
        (cd "$ROOT_DIR" && cargo build --release --bin kplay) >&2 || die "release build failed"
    fi
    [ -x "$KPLAY" ] || die "no kplay binary at $KPLAY"
    # A private copy: others rebuild target/release while a benchmark runs.
    local src="$KPLAY"
    cp "$KPLAY" "$BENCH_OUT/kplay.$$"
    KPLAY="$BENCH_OUT/kplay.$$"
    trap 'rm -f "$BENCH_OUT/kplay.$$"' EXIT
    log "kplay: $("$KPLAY" --version), tree $(git -C "$ROOT_DIR" rev-parse --short HEAD)$(git -C "$ROOT_DIR" diff --quiet HEAD -- engine modules src lab 2>/dev/null || echo '+uncommitted changes'), binary $src built $(stat -c %y "$src" | cut -c1-19)"
}

# bench_venv NAME SPEC... : creates (or reuses) $BENCH_DIR/.venv-NAME holding SPEC; prints its path.
bench_venv() {
    local name="$1"; shift
    local dir="$BENCH_DIR/.venv-$name" stamp
    stamp="$(printf '%s\n' "$@")"
    if [ -x "$dir/bin/python" ] && [ "$(cat "$dir/.bench-spec" 2>/dev/null)" = "$stamp" ]; then
        echo "$dir"; return 0
    fi
    log "creating venv $dir: $*"
    rm -rf "$dir"
    python3 -m venv "$dir" >&2 || die "python3 -m venv failed"
    "$dir/bin/pip" install -q --disable-pip-version-check "$@" >&2 || die "pip install $* failed"
    printf '%s\n' "$stamp" >"$dir/.bench-spec"
    echo "$dir"
}

bench_venv_ansible219() { bench_venv ansible219 "${ANSIBLE_219_SPEC[@]}"; }

# The Mitogen venv, checked: Mitogen's loader declares the ansible-core range it supports, and a
# Mitogen release outside that range would refuse to load mid-benchmark. Prints the venv path.
bench_venv_mitogen() {
    local dir
    dir="$(bench_venv mitogen217 "${MITOGEN_SPEC[@]}")"
    bench_mitogen_check "$dir" >&2 || die "installed Mitogen does not support ansible-core 2.17 (see above); pin an older mitogen in MITOGEN_SPEC"
    echo "$dir"
}

bench_mitogen_check() {
    "$1/bin/python" - <<'PY'
import ansible.release, importlib.metadata as md
import ansible_mitogen.loaders as l
core = tuple(int(x) for x in ansible.release.__version__.split(".")[:2])
# Older releases declare a maximum too; 0.3.2x+ declare only a minimum.
lo, hi = l.ANSIBLE_VERSION_MIN, getattr(l, "ANSIBLE_VERSION_MAX", (99, 99))
print(f"mitogen {md.version('mitogen')} supports ansible-core {lo}..{hi}; installed {ansible.release.__version__}")
raise SystemExit(0 if lo <= core <= hi else 1)
PY
}

# The directory holding Mitogen's strategy plugins, for ANSIBLE_STRATEGY_PLUGINS.
bench_mitogen_strategy_dir() {
    "$1/bin/python" -c 'import os, ansible_mitogen; print(os.path.join(os.path.dirname(ansible_mitogen.__file__), "plugins", "strategy"))'
}

# Lab names this process brought up; torn down by bench_cleanup (installed as an EXIT trap).
BENCH_LABS=()

bench_cleanup() {
    local name
    for name in "${BENCH_LABS[@]}"; do
        log "lab down $name"
        "$KPLAY" lab down --name "$name" >/dev/null 2>&1 || log "lab down $name failed: run 'kplay lab down --name $name'"
    done
    BENCH_LABS=()
    # Last: the labs above are torn down with this very binary.
    rm -f "$BENCH_OUT/kplay.$$"
}

# bench_lab_up NAME HOSTS [INIT] : brings the lab up and sets BENCH_INV to its inventory path. Not
# meant for $(...): the lab must be registered in this shell for bench_cleanup to tear it down.
# A leftover lab of the same name (an earlier run killed before its trap) is torn down first, so
# the hosts always start fresh.
bench_lab_up() {
    local name="$1" hosts="$2" init="${3:-systemd}" out
    case "$name" in lab) die "lab name 'lab' belongs to others";; esac
    "$KPLAY" lab down --name "$name" >/dev/null 2>&1 || true
    BENCH_LABS+=("$name")
    log "lab up $name: $hosts hosts, init $init"
    out="$("$KPLAY" lab up --hosts "$hosts" --name "$name" --init "$init" 2>"$BENCH_OUT/lab-$name.log")" \
        || { cat "$BENCH_OUT/lab-$name.log" >&2; die "lab up $name failed"; }
    BENCH_INV="$(printf '%s\n' "$out" | tail -n1)"
    [ -f "$BENCH_INV" ] || die "lab up $name printed no inventory path"
}

# bench_inventory_hosts INV : "name ip" per lab host.
bench_inventory_hosts() {
    awk '/^\[lab\]/{g=1;next} /^\[/{g=0} g && NF {ip=""; for(i=2;i<=NF;i++) if ($i ~ /^ansible_host=/) ip=substr($i,14); print $1, ip}' "$1"
}

# bench_inventory_var INV KEY : the [all:vars] value of KEY (quotes stripped).
bench_inventory_var() {
    awk -F= -v k="$2" '$1==k {sub(/^[^=]*=/,""); gsub(/^'\''|'\''$/,""); print; exit}' "$1"
}

# bench_ssh_all INV CMD : runs CMD as root on every lab host (plain OpenSSH, 16 at a time), using the
# inventory's key and known_hosts, so resetting hosts does not depend on any engine under test.
bench_ssh_all() {
    local inv="$1" cmd="$2" key common
    key="$(bench_inventory_var "$inv" ansible_ssh_private_key_file)"
    common="$(bench_inventory_var "$inv" ansible_ssh_common_args)"
    # shellcheck disable=SC2086 # common holds several -o options
    bench_inventory_hosts "$inv" | awk '{print $2}' | \
        xargs -P 16 -I{} ssh -n -o BatchMode=yes -o ConnectTimeout=10 -i "$key" $common "root@{}" "$cmd" \
        || die "ssh to lab hosts failed: $cmd"
}

# recap_check LOG RERUN : "ok" when every host reports failed=0 unreachable=0 (and, for a
# rerun (RERUN=1), changed=0); otherwise the offending recap lines.
recap_check() {
    awk -v rerun="$2" '
        /PLAY RECAP/ {r=1; next}
        r && /:.*ok=/ {
            n++; bad=0
            for (i=1;i<=NF;i++) { split($i,kv,"="); v[kv[1]]=kv[2] }
            if (v["failed"]+0 || v["unreachable"]+0 || (rerun && v["changed"]+0)) bad=1
            if (bad) { print "BAD: " $0; b++ }
        }
        END { if (n == 0) print "BAD: no recap"; else if (!b) print "ok (" n " hosts)" }' "$1"
}

# bench_hyperfine NAME [hyperfine args...] : runs hyperfine with JSON export to $BENCH_OUT/NAME.json.
bench_hyperfine() {
    local name="$1"; shift
    hyperfine --style basic --export-json "$BENCH_OUT/$name.json" "$@" >&2 || die "hyperfine $name failed (a command exited non-zero?)"
}

# bench_mean NAME : mean seconds of the (single) command in $BENCH_OUT/NAME.json.
bench_mean() {
    python3 -c 'import json,sys; print("%.4f" % json.load(open(sys.argv[1]))["results"][0]["mean"])' "$BENCH_OUT/$1.json"
}

# bench_min NAME : fastest run, seconds: on a shared machine the least disturbed estimate.
bench_min() {
    python3 -c 'import json,sys; print("%.4f" % min(json.load(open(sys.argv[1]))["results"][0]["times"]))' "$BENCH_OUT/$1.json"
}

# bench_load : the 1-minute load average; other work on the machine shows up in the timings.
bench_load() { cut -d' ' -f1 /proc/loadavg; }

# bench_calc EXPR : floating-point arithmetic (awk), e.g. bench_calc "(3.1-0.2)/990*1000".
bench_calc() { awk "BEGIN { printf \"%.3f\", $1 }"; }

mkdir -p "$BENCH_OUT"
