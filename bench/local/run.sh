#!/usr/bin/env bash
# bench/local: 1,000-task playbook on the controller (-c local), kplay vs ansible-playbook 2.19,
# timed with hyperfine. Prints seconds per playbook, ms per executed task and µs per skipped task
# (start-up cancelled by subtracting base.yml; see gen.py), and diffs the files both engines wrote.
#
# Env: BENCH_RUNS (kplay runs, default 10), BENCH_ANSIBLE_RUNS (ansible runs, default 1 for
# exec.yml — it takes minutes — and 3 for the others), KPLAY (binary), BENCH_BUILD=1 (rebuild),
# BENCH_ENGINES="kplay" to re-measure kplay only (ansible's figures and files are then those of
# the last full run, kept in $BENCH_OUT; the table says so).
set -euo pipefail
# shellcheck source=../lib.sh
source "$(dirname "$0")/../lib.sh"

bench_need hyperfine hyperfine
bench_kplay
VENV="$(bench_venv_ansible219)"

WORK="$BENCH_OUT/local"
rm -rf "$WORK"
python3 "$BENCH_DIR/local/gen.py" "$WORK"
cat >"$WORK/ansible.cfg" <<CFG
[defaults]
retry_files_enabled = False
interpreter_python = auto_silent
CFG
export ANSIBLE_CONFIG="$WORK/ansible.cfg"
INV="$WORK/inventory.ini"
LOAD_START="$(bench_load)"
KRUNS="${BENCH_RUNS:-10}"
AEXEC_RUNS="${BENCH_ANSIBLE_RUNS:-1}"
AOTHER_RUNS="${BENCH_ANSIBLE_RUNS:-3}"

kplay_cmd() { echo "$KPLAY run -i $INV -c local $WORK/$1.yml -e bench_dest=$2"; }
ansible_cmd() { echo "$VENV/bin/ansible-playbook -i $INV -c local $WORK/$1.yml -e bench_dest=$2"; }

# Correctness first: a benchmark of a run that fails measures nothing.
for pb in base exec skip; do
    rm -rf "$WORK/dest-k"
    if ! $(kplay_cmd "$pb" "$WORK/dest-k") >"$WORK/kplay-$pb.log" 2>&1; then
        tail -n 30 "$WORK/kplay-$pb.log" >&2
        die "kplay failed on $pb.yml (log: $WORK/kplay-$pb.log)"
    fi
done

ENGINES="${BENCH_ENGINES:-kplay ansible}"
measuring() { case " $ENGINES " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
for pb in base skip; do
    bench_hyperfine "local-kplay-$pb" --warmup 2 --runs "$KRUNS" "$(kplay_cmd "$pb" "$WORK/dest-k")"
    if measuring ansible; then
        bench_hyperfine "local-ansible-$pb" --warmup 1 --runs "$AOTHER_RUNS" "$(ansible_cmd "$pb" "$WORK/dest-a")"
    fi
done
# exec.yml from an empty destination every time: every task makes its change.
bench_hyperfine "local-kplay-exec" --warmup 1 --runs "$KRUNS" --prepare "rm -rf $WORK/dest-k" "$(kplay_cmd exec "$WORK/dest-k")"
if measuring ansible; then
    bench_hyperfine "local-ansible-exec" --runs "$AEXEC_RUNS" --prepare "rm -rf $WORK/dest-a" "$(ansible_cmd exec "$WORK/dest-a")"
    rm -rf "$BENCH_OUT/local-dest-a"
    cp -a "$WORK/dest-a" "$BENCH_OUT/local-dest-a"
else
    for pb in base skip exec; do
        [ -f "$BENCH_OUT/local-ansible-$pb.json" ] || die "no ansible results: run once without BENCH_ENGINES"
    done
    log "ansible-core: figures of $(date -u -r "$BENCH_OUT/local-ansible-exec.json" '+%F %H:%M UTC') reused"
    if [ -d "$BENCH_OUT/local-dest-a" ]; then cp -a "$BENCH_OUT/local-dest-a" "$WORK/dest-a"; fi
fi

# Both destinations now hold one fresh exec.yml run each: they must match file for file.
if [ ! -d "$WORK/dest-a" ]; then
    same="not compared (no ansible-core run kept: run once without BENCH_ENGINES)"
elif diff -r "$WORK/dest-k" "$WORK/dest-a" >"$WORK/dest.diff" 2>&1; then
    same="identical"
else
    same="DIFFERENT ($(wc -l <"$WORK/dest.diff") diff lines: $WORK/dest.diff)"
fi
# Modes too (diff -r ignores them).
if [ -d "$WORK/dest-a" ] && [ "$(cd "$WORK/dest-k" && find . -printf '%p %m\n' | sort)" != "$(cd "$WORK/dest-a" && find . -printf '%p %m\n' | sort)" ]; then
    same="$same; modes DIFFER"
fi

LOAD_END="$(bench_load)"
verdict() { awk -v v="$1" -v t="$2" 'BEGIN { print (v < t) ? "meets" : "MISSES" }'; }

# table STAT : the summary from hyperfine's mean or min (min: least disturbed by other load).
table() {
    local stat="$1" kb ke ks ab ae as kx ky ax ay
    kb=$(bench_"$stat" local-kplay-base); ke=$(bench_"$stat" local-kplay-exec); ks=$(bench_"$stat" local-kplay-skip)
    ab=$(bench_"$stat" local-ansible-base); ae=$(bench_"$stat" local-ansible-exec); as=$(bench_"$stat" local-ansible-skip)
    kx=$(bench_calc "($ke-$kb)/990*1000"); ky=$(bench_calc "($ks-$kb)/990*1000000")
    ax=$(bench_calc "($ae-$ab)/990*1000"); ay=$(bench_calc "($as-$ab)/990*1000000")
    echo
    echo "bench/local ($(date -u +%F), $(nproc) cores, load avg $LOAD_START -> $LOAD_END): $stat seconds per playbook run"
    printf '%-22s %9s %9s %9s %16s %16s\n' engine base.yml exec.yml skip.yml "ms/executed task" "µs/skipped task"
    printf '%-22s %9s %9s %9s %16s %16s\n' kplay "$kb" "$ke" "$ks" "$kx" "$ky"
    printf '%-22s %9s %9s %9s %16s %16s\n' "ansible-core $("$VENV/bin/python" -c 'import ansible.release as r; print(r.__version__)')" "$ab" "$ae" "$as" "$ax" "$ay"
    printf '%-22s %9s %9s %9s %16s %16s\n' "ansible / kplay" "$(bench_calc "$ab/$kb")x" "$(bench_calc "$ae/$ke")x" "$(bench_calc "$as/$ks")x" "$(bench_calc "$ax/$kx")x" "$(bench_calc "$ay/$ky")x"
    echo "targets ($stat): executed < 2 ms: $(verdict "$kx" 2) ($kx ms); skipped < 50 µs: $(verdict "$ky" 50) ($ky µs)"
}
table mean
table min
echo
echo "files written by exec.yml, kplay vs ansible: $same"
echo "raw hyperfine JSON: $BENCH_OUT/local-*.json"
