#!/usr/bin/env bash
# Executions until the first crash, with and without interleaving coverage (reads-from pairs in
# libFuzzer's extra counters), over RUNS libFuzzer seeds; prints each run and the medians.
#
#   ci/fuzz-crash-stats.sh [TARGET] [VARIANT] [RUNS] [SECONDS]   (mutex_unlock_free buggy 10 120)
#
# Every run starts from the checked-in seeds only. A run that finds nothing within SECONDS counts
# as its number of executions, marked with ">".
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:-mutex_unlock_free}
variant=${2:-buggy}
runs=${3:-10}
secs=${4:-120}
source ci/fuzz-common.sh
fuzz build "$target"

for rf in 1 0; do
    counts=()
    for seed in $(seq "$runs"); do
        work=$(mktemp -d)
        out=$(KGRACE_FUZZ_VARIANT=$variant KGRACE_FUZZ_RF=$rf fuzz run "$target" "$work" "corpus/$target" -- \
            "${FUZZ_FLAGS[@]}" -max_total_time="$secs" -seed="$seed" "-artifact_prefix=$work/" 2>&1 || true)
        rm -rf "$work"
        n=$(grep -o 'in execution [0-9]* of this process' <<<"$out" | grep -o '[0-9]*' || true)
        if [ -z "$n" ]; then
            n=$(grep -o 'stat::number_of_executed_units: *[0-9]*' <<<"$out" | grep -o '[0-9]*$')
            echo "rf=$rf seed=$seed: no crash in ${secs}s (>$n executions)"
        else
            echo "rf=$rf seed=$seed: crash in execution $n"
        fi
        counts+=("$n")
    done
    echo "interleaving coverage $([ $rf = 1 ] && echo on || echo off): median $(printf '%s\n' "${counts[@]}" | median) executions to the first crash (runs: ${counts[*]})"
done
