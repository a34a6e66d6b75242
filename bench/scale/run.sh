#!/usr/bin/env bash
# bench/scale: kplay alone against 100 light lab hosts (`--init none`) running the bench/ssh
# playbook (100 tasks per host): a first run on fresh hosts and a no-change rerun, each under
# /usr/bin/time -v for the controller's wall time, CPU time and peak RSS. Checks that the first
# run converged everywhere (failed=0, unreachable=0) and that the rerun reports changed=0 on every
# host. Then one more first run with --output json for the timing breakdown (timeline.py).
#
# Env: BENCH_HOSTS (default 100), BENCH_FORKS (default = hosts), BENCH_LAB (default "scale"),
# KPLAY, BENCH_BUILD=1.
set -euo pipefail
# shellcheck source=../lib.sh
source "$(dirname "$0")/../lib.sh"

bench_need /usr/bin/time time
bench_need ssh openssh-client
bench_kplay

HOSTS="${BENCH_HOSTS:-100}"
FORKS="${BENCH_FORKS:-$HOSTS}"
LAB="${BENCH_LAB:-scale}"
WORK="$BENCH_OUT/scale"
rm -rf "$WORK"
python3 "$BENCH_DIR/ssh/gen.py" "$WORK"

trap bench_cleanup EXIT
t0=$(date +%s)
bench_lab_up "$LAB" "$HOSTS" none
INV="$BENCH_INV"
log "lab up: $(( $(date +%s) - t0 )) s; inventory $INV"
[ "$(bench_inventory_hosts "$INV" | wc -l)" -eq "$HOSTS" ] || die "inventory does not list $HOSTS hosts"
LOAD_START="$(bench_load)"

# timed RUN [ARGS...] : kplay under /usr/bin/time -v; output in $WORK/RUN.log, time in $WORK/RUN.time.
timed() {
    local run="$1"; shift
    /usr/bin/time -v -o "$WORK/$run.time" "$KPLAY" run -f "$FORKS" -i "$INV" "$WORK/playbook.yml" "$@" \
        >"$WORK/$run.log" 2>&1 || log "kplay exited non-zero on $run (see $WORK/$run.log)"
}
# field RUN LABEL : one value from /usr/bin/time -v's report.
field() { awk -F': ' -v k="$2" 'index($0, k) {print $2; exit}' "$WORK/$1.time"; }
# wall_s RUN : wall clock as seconds ("m:ss.cc" or "h:mm:ss").
wall_s() { field "$1" "Elapsed (wall clock)" | awk -F: '{ s=0; for (i=1;i<=NF;i++) s=s*60+$i; printf "%.2f", s }'; }

bench_ssh_all "$INV" 'rm -rf /opt/kbench'
log "first run"
timed first
log "rerun"
timed rerun
LOAD_END="$(bench_load)"

bench_ssh_all "$INV" 'rm -rf /opt/kbench'
log "first run with JSON events (breakdown only, not in the table)"
"$KPLAY" run -f "$FORKS" -i "$INV" "$WORK/playbook.yml" --output json >"$WORK/first.jsonl" 2>"$WORK/first-json.err" || true

echo
echo "bench/scale ($(date -u +%F), $(nproc) cores, load avg $LOAD_START -> $LOAD_END, $HOSTS lab hosts --init none, 100 tasks/host, forks $FORKS)"
printf '%-10s %10s %10s %10s %14s   %s\n' run "wall (s)" "user (s)" "sys (s)" "peak RSS (MB)" recap
for run in first rerun; do
    rerun=0; [ "$run" = rerun ] && rerun=1
    rss_kb=$(field "$run" "Maximum resident set size")
    printf '%-10s %10s %10s %10s %14s   %s\n' "$run" "$(wall_s "$run")" "$(field "$run" "User time")" "$(field "$run" "System time")" \
        "$(bench_calc "$rss_kb/1024")" "$(recap_check "$WORK/$run.log" "$rerun")"
done
verdict() { awk -v v="$1" -v t="$2" 'BEGIN { print (v < t) ? "meets" : "MISSES" }'; }
echo "targets: first run < 30 s: $(verdict "$(wall_s first)" 30); peak RSS < 200 MB: $(verdict "$(bench_calc "$(field first "Maximum resident set size")/1024")" 200)"
"$KPLAY" __agent-info | python3 -c 'import json, sys
a = json.load(sys.stdin)
print("agent: none carried" if a is None else "agent: %d bytes on the wire per fresh host (%d unpacked; %s)" % (a["wire_bytes"], a["len"], a["built"]))' || true
echo "kplay timing breakdown (first run, JSON events):"
python3 "$BENCH_DIR/timeline.py" "$WORK/first.jsonl" || true
