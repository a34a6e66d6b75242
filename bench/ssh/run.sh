#!/usr/bin/env bash
# bench/ssh: the same 100-task playbook (gen.py) against the same 3 lab hosts, run by
#   (a) ansible-core 2.19, pipelining on, forks >= hosts (ssh ControlPersist as Ansible defaults it),
#   (b) Mitogen 0.3 on ansible-core 2.17, strategy mitogen_linear,
#   (c) kplay (release build),
# each as a first run on fresh hosts (hyperfine --prepare removes /opt/kbench over plain ssh) and
# as a no-change rerun. Prints the times and kplay's speed-up over each, checks every first run
# converged (failed=0) and every rerun reported changed=0, and that all three engines left the
# same files (content and mode) on the hosts.
#
# Env: BENCH_RUNS (hyperfine runs per measurement, default 3), BENCH_HOSTS (default 3),
# BENCH_LAB (lab name, default "bench"), KPLAY, BENCH_BUILD=1.
set -euo pipefail
# shellcheck source=../lib.sh
source "$(dirname "$0")/../lib.sh"

bench_need hyperfine hyperfine
bench_need ssh openssh-client
bench_kplay
V219="$(bench_venv_ansible219)"
VMIT="$(bench_venv_mitogen)"
MIT_STRATEGY="$(bench_mitogen_strategy_dir "$VMIT")"
MIT_VERSION="$("$VMIT/bin/python" -c 'import importlib.metadata as m; print(m.version("mitogen"))')"
CORE217="$("$VMIT/bin/python" -c 'import ansible.release as r; print(r.__version__)')"
CORE219="$("$V219/bin/python" -c 'import ansible.release as r; print(r.__version__)')"

HOSTS="${BENCH_HOSTS:-3}"
RUNS="${BENCH_RUNS:-3}"
LAB="${BENCH_LAB:-bench}"
WORK="$BENCH_OUT/ssh"
mkdir -p "$WORK"
python3 "$BENCH_DIR/ssh/gen.py" "$WORK"

trap bench_cleanup EXIT
bench_lab_up "$LAB" "$HOSTS"
INV="$BENCH_INV"
log "inventory $INV"

LOAD_START="$(bench_load)"
FORKS=$(( HOSTS > 5 ? HOSTS : 5 ))
write_cfg() { # FILE [STRATEGY]
    {
        echo "[defaults]"
        echo "forks = $FORKS"
        echo "retry_files_enabled = False"
        echo "interpreter_python = auto_silent"
        [ -n "${2:-}" ] && echo "strategy = $2"
        echo "[ssh_connection]"
        echo "pipelining = True"
    } >"$1"
}
write_cfg "$WORK/ansible219.cfg"
write_cfg "$WORK/mitogen.cfg" mitogen_linear

# The reset as a script of its own, for hyperfine's --prepare.
cat >"$WORK/reset.sh" <<RESET
#!/usr/bin/env bash
source "$BENCH_DIR/lib.sh"
bench_ssh_all "$INV" 'rm -rf /opt/kbench'
RESET
chmod +x "$WORK/reset.sh"

declare -A CMD=(
    [ansible219]="env ANSIBLE_CONFIG=$WORK/ansible219.cfg $V219/bin/ansible-playbook -i $INV $WORK/playbook.yml"
    [mitogen]="env ANSIBLE_CONFIG=$WORK/mitogen.cfg ANSIBLE_STRATEGY_PLUGINS=$MIT_STRATEGY $VMIT/bin/ansible-playbook -i $INV $WORK/playbook.yml"
    [kplay]="$KPLAY run -f $FORKS -i $INV $WORK/playbook.yml"
)
ENGINES=(ansible219 mitogen kplay)
# BENCH_ENGINES="kplay" re-measures a subset; the summary then takes the others' results of the
# last run from $WORK and $BENCH_OUT (same playbook, regenerated identically).
read -r -a MEASURE <<<"${BENCH_ENGINES:-${ENGINES[*]}}"

# host_state : content and mode of every file the playbook wrote, on every host.
host_state() {
    bench_ssh_all "$INV" 'cd /opt/kbench && find . -printf "%p %m %s\n" | sort && find . -type f | sort | xargs md5sum' | sort
}

# run_logged ENGINE RUN : the engine's command with its output kept and its exit code recorded
# (hyperfine -i: a non-zero exit is reported in the table instead of discarding the timing).
run_logged() { echo "${CMD[$1]} >$WORK/$1-$2.log 2>&1; echo \$? >$WORK/$1-$2.rc"; }

for e in "${MEASURE[@]}"; do
    [ -n "${CMD[$e]:-}" ] || die "unknown engine $e (one of ${ENGINES[*]})"
    log "== $e: first run x$RUNS"
    bench_hyperfine "ssh-$e-first" --runs "$RUNS" --prepare "$WORK/reset.sh" "$(run_logged "$e" first)"
    host_state >"$WORK/$e-state.txt"
    log "== $e: no-change rerun x$RUNS"
    bench_hyperfine "ssh-$e-rerun" --runs "$RUNS" "$(run_logged "$e" rerun)"
done

declare -A FIRST_CHECK RERUN_CHECK STATE_SUM
for e in "${ENGINES[@]}"; do
    [ -f "$WORK/$e-first.log" ] && [ -f "$BENCH_OUT/ssh-$e-first.json" ] || die "no results for $e: run with BENCH_ENGINES including $e"
    FIRST_CHECK[$e]="$(recap_check "$WORK/$e-first.log" 0), exit $(cat "$WORK/$e-first.rc" 2>/dev/null || echo 0)"
    RERUN_CHECK[$e]="$(recap_check "$WORK/$e-rerun.log" 1), exit $(cat "$WORK/$e-rerun.rc" 2>/dev/null || echo 0)"
    STATE_SUM[$e]="$(md5sum <"$WORK/$e-state.txt" | cut -c1-12)"
done

# One more kplay first run with JSON events, for the where-does-the-time-go breakdown.
"$WORK/reset.sh"
${CMD[kplay]} --output json >"$WORK/kplay-first.jsonl" 2>"$WORK/kplay-first.err" || true
${CMD[kplay]} --output json >"$WORK/kplay-rerun.jsonl" 2>"$WORK/kplay-rerun.err" || true

LOAD_END="$(bench_load)"
name() {
    case "$1" in
        ansible219) echo "ansible-core $CORE219";;
        mitogen) echo "Mitogen $MIT_VERSION/core $CORE217";;
        kplay) echo "kplay";;
    esac
}
meets() { awk -v v="$1" -v t="$2" 'BEGIN { print (v >= t) ? "meets" : "MISSES" }'; }

# table STAT : times and speed-ups from hyperfine's mean or min (min: least disturbed by other load).
table() {
    local stat="$1" e target fx rx
    declare -A F R
    for e in "${ENGINES[@]}"; do F[$e]=$(bench_"$stat" "ssh-$e-first"); R[$e]=$(bench_"$stat" "ssh-$e-rerun"); done
    echo
    echo "bench/ssh ($(date -u +%F), $(nproc) cores, load avg $LOAD_START -> $LOAD_END, $HOSTS lab hosts, 100 tasks/host, $stat of $RUNS runs)"
    printf '%-32s %13s %11s   %-30s %-30s %s\n' engine "first run (s)" "rerun (s)" "first-run recap" "rerun recap" "host files"
    for e in "${ENGINES[@]}"; do
        printf '%-32s %13s %11s   %-30s %-30s %s\n' "$(name "$e")" "${F[$e]}" "${R[$e]}" "${FIRST_CHECK[$e]}" "${RERUN_CHECK[$e]}" "${STATE_SUM[$e]}"
    done
    for e in ansible219 mitogen; do
        target=20; [ "$e" = mitogen ] && target=5
        fx=$(bench_calc "${F[$e]}/${F[kplay]}"); rx=$(bench_calc "${R[$e]}/${R[kplay]}")
        echo "kplay vs $(name "$e"): ${fx}x first run, ${rx}x rerun (target >= ${target}x: first $(meets "$fx" $target), rerun $(meets "$rx" $target))"
    done
}
table mean
table min
echo
if [ "${STATE_SUM[ansible219]}" = "${STATE_SUM[kplay]}" ] && [ "${STATE_SUM[mitogen]}" = "${STATE_SUM[kplay]}" ]; then
    echo "host files after the first run: identical for all three engines"
else
    echo "host files after the first run DIFFER: diff $WORK/ansible219-state.txt $WORK/kplay-state.txt"
fi
echo "kplay timing breakdown: python3 $BENCH_DIR/timeline.py $WORK/kplay-first.jsonl"
python3 "$BENCH_DIR/timeline.py" "$WORK/kplay-first.jsonl" || true
