#!/usr/bin/env bash
# Fuzz one target the way the nightly job does, on the stable toolchain:
#
#   ci/fuzz.sh TARGET SECONDS [VARIANT...]
#
# Every variant of the target's harness (or the ones named) runs under `cargo fuzz run` with its
# own budget of SECONDS:
# * a variant expected to fail (the posted, buggy code) must crash within the budget, but at
#   least FIND_SECS (180 s: the run stops at its first crash, so only a slow find costs it),
#   starting from the checked-in seeds only (corpus/TARGET), and the kgrace trace and libFuzzer
#   artifact it leaves must both replay with `kgrace replay` (exit 1: reproduced);
# * a variant expected to pass fuzzes the working corpus fuzz/corpus/TARGET (kept between nightly
#   runs), and any crash is a regression: its artifact stays in fuzz/artifacts/TARGET/, its kgrace
#   trace in fuzz/artifacts/TARGET/traces/.
# KGRACE_FUZZ_MEMORY=lkmm fuzzes under weak memory (a variant that pins a memory model keeps its
# own); the raw artifacts replay under the same model.
# A target that is no harness (trace_load, the trace loader) has no variants: it fuzzes its working
# corpus and its seeds for SECONDS, and any crash (a panic, or memory past libFuzzer's limits) fails.
# Exit 0 when every variant behaved as expected.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -lt 2 ]; then
    echo "usage: ci/fuzz.sh TARGET SECONDS [VARIANT...]" >&2
    exit 2
fi
target=$1
secs=$2
shift 2
# A failing variant's budget: a find may take longer than a clean variant's smoke run. The slowest,
# concurrent_srcu small-counters, took 22,888 to 405,170 executions over libFuzzer seeds 1..=10
# (median about 150,000; ci/fuzz-crash-stats.sh), and one CI run missed it in 60 s (665,042
# executions at about 11,000 a second): 180 s gives its tail three times that.
FIND_SECS=180
find_secs=$(( secs > FIND_SECS ? secs : FIND_SECS ))

source ci/fuzz-common.sh
# A harness of your own (examples/<target>.rs) is listed and replayed by its own binary.
if [ -f "examples/$target.rs" ]; then
    cargo build --release --quiet --example "$target"
    kgrace=target/release/examples/$target
else
    cargo build --release --quiet --bin kgrace
    kgrace=target/release/kgrace
fi
fuzz build "$target"

if [ $# -gt 0 ]; then
    wanted=" $* "
else
    wanted=""
fi
variants=$("$kgrace" list --json | jq -r --arg h "$target" \
    '.[] | select(.harness == $h) | .variants[] | "\(.name) \(.fails)"')
artifacts=fuzz/artifacts/$target
mkdir -p "$artifacts" "fuzz/corpus/$target"
# Files only: kgrace's traces are in the subdirectory traces/.
artifact_count() { find "$artifacts" -maxdepth 1 -type f | wc -l; }

if [ -z "$variants" ]; then
    if [ ! -f "fuzz/fuzz_targets/$target.rs" ]; then
        echo "ci/fuzz.sh: no fuzz target or harness named $target (see cargo fuzz list, kgrace list)" >&2
        exit 2
    fi
    # Inputs are files, not schedules: libFuzzer's default length limit, not the schedules' 40.
    flags=()
    for f in "${FUZZ_FLAGS[@]}"; do [[ $f == -max_len=* ]] || flags+=("$f"); done
    log=$(mktemp)
    set +e
    fuzz run "$target" "fuzz/corpus/$target" "corpus/$target" -- \
        "${flags[@]}" -max_len=4096 -max_total_time="$secs" "-artifact_prefix=$artifacts/" >"$log" 2>&1
    rc=$?
    set -e
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
    if [ $rc -ne 0 ]; then
        tail -n 40 "$log"
        echo "FAIL $target: the fuzzer crashed (exit $rc); see $artifacts"
        status=1
    else
        echo "ok   $target: no failure in ${secs}s ($execs executions)"
        status=0
    fi
    rm -f "$log"
    exit $status
fi

status=0
while read -r variant fails; do
    if [ -n "$wanted" ] && [[ $wanted != *" $variant "* ]]; then
        continue
    fi
    before=$(artifact_count)
    log=$(mktemp)
    if [ "$fails" = true ]; then
        # Found by exploring from the seeds: no corpus from earlier runs, which may hold the crash.
        work=$(mktemp -d)
        corpora=("$work" "corpus/$target")
        budget=$find_secs
    else
        work=
        corpora=("fuzz/corpus/$target" "corpus/$target")
        budget=$secs
    fi
    set +e
    KGRACE_FUZZ_VARIANT=$variant fuzz run "$target" "${corpora[@]}" -- \
        "${FUZZ_FLAGS[@]}" -max_total_time="$budget" "-artifact_prefix=$artifacts/$variant-" >"$log" 2>&1
    rc=$?
    set -e
    [ -n "$work" ] && rm -rf "$work"
    crashed=$([ "$(artifact_count)" -gt "$before" ] && echo true || echo false)
    found=$(grep -o 'in execution [0-9]* of this process' "$log" | grep -o '[0-9]*' || true)
    if [ "$fails" = true ]; then
        if [ "$crashed" != true ]; then
            tail -n 30 "$log"
            echo "FAIL $target [$variant]: expected a failure, none found in ${budget}s (exit $rc)"
            status=1
            continue
        fi
        # "replay it: cargo run --release -- replay PATH", whether the trace is new or was there.
        trace=$(grep -o 'replay it: .* replay .*' "$log" | head -n 1 | sed 's/.* replay //')
        artifact=$(ls -t "$artifacts"/"$variant"-crash-* | head -n 1)
        set +e
        "$kgrace" replay "$trace" >/dev/null
        rc_trace=$?
        "$kgrace" replay --harness "$target" --variant "$variant" \
            --memory "${KGRACE_FUZZ_MEMORY:-sc}" "$artifact" >/dev/null
        rc_raw=$?
        set -e
        if [ $rc_trace -eq 1 ] && [ $rc_raw -eq 1 ]; then
            echo "ok   $target [$variant]: failure found in execution $found, trace $trace and artifact $artifact reproduce"
        else
            echo "FAIL $target [$variant]: replay of $trace exits $rc_trace, of $artifact exits $rc_raw (want 1)"
            status=1
        fi
    else
        if [ "$crashed" = true ] || [ $rc -ne 0 ]; then
            tail -n 40 "$log"
            echo "FAIL $target [$variant]: expected to pass, but the fuzzer crashed (exit $rc); see $artifacts"
            status=1
        else
            execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
            echo "ok   $target [$variant]: no failure in ${secs}s ($execs executions)"
        fi
    fi
    rm -f "$log"
done <<<"$variants"
exit $status
