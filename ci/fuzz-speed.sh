#!/usr/bin/env bash
# Executions/s of `kgrace run` (its default scheduler) and of the fuzz target under libFuzzer, on
# the same harness variant, in alternating rounds of one run; prints the medians and their ratio.
#
#   ci/fuzz-speed.sh [TARGET] [VARIANT] [SECONDS] [ROUNDS]   (mutex_unlock_free fixed 10 3)
#
# Use a variant that passes: a failure ends a run early.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:-mutex_unlock_free}
variant=${2:-fixed}
secs=${3:-10}
rounds=${4:-3}
source ci/fuzz-common.sh
cargo build --release --quiet --bin kgrace
fuzz build "$target"

run_rates=()
fuzz_rates=()
for round in $(seq "$rounds"); do
    rate=$(target/release/kgrace run "$target" --variant "$variant" --time "$secs" --json \
        --trace-dir "$(mktemp -d)" | jq .executions_per_sec)
    run_rates+=("$rate")
    work=$(mktemp -d)
    rate=$(KGRACE_FUZZ_VARIANT=$variant fuzz run "$target" "$work" "corpus/$target" -- \
        "${FUZZ_FLAGS[@]}" -max_total_time="$secs" -seed="$round" 2>&1 |
        grep -o 'stat::average_exec_per_sec: *[0-9]*' | grep -o '[0-9]*$')
    rm -rf "$work"
    fuzz_rates+=("$rate")
    echo "round $round: kgrace run ${run_rates[-1]}/s, fuzz ${fuzz_rates[-1]}/s"
done
run=$(printf '%s\n' "${run_rates[@]}" | median)
fz=$(printf '%s\n' "${fuzz_rates[@]}" | median)
echo "$target [$variant], median of $rounds alternating rounds of ${secs}s:"
echo "  kgrace run:            $run executions/s"
echo "  cargo fuzz run:        $fz executions/s"
echo "  ratio fuzz/run:        $(awk -v a="$fz" -v b="$run" 'BEGIN {printf "%.2f", a / b}')"
