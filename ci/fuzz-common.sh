# Sourced by the ci/fuzz*.sh scripts: how they build and run the fuzz targets.
#
# Speed settings, measured with ci/fuzz-speed.sh (README, "Fuzzing"): an optimized build that
# keeps debug assertions (overflow checks catch model bugs), without comparison tracing (it
# halved executions/s, and schedule bytes are not compared with constants), and with
# function-level code coverage: edge counters of the engine, nearly the same for every
# interleaving, cost libFuzzer more per input than the execution itself, while the reads-from
# counters carry the interleaving signal. Stable toolchain: `--sanitizer none`.
# A separate target dir, so that the README's plain `cargo fuzz run` does not rebuild after this.
# KGRACE_FUZZ_PLAIN=1 uses the README's plain `cargo fuzz run --sanitizer none` build instead, for
# comparisons.
if [ "${KGRACE_FUZZ_PLAIN:-0}" = 1 ]; then
    FUZZ_BUILD=(--sanitizer none)
    FUZZ_RUSTFLAGS=${RUSTFLAGS:-}
else
    FUZZ_BUILD=(-O --debug-assertions --no-trace-compares --sanitizer none --target-dir fuzz/target/ci)
    FUZZ_RUSTFLAGS="${RUSTFLAGS:-} -Cllvm-args=-sanitizer-coverage-level=1"
fi
# 8 bytes of priorities and 16 change points of 2 bytes: longer inputs only add ignored bytes.
FUZZ_FLAGS=(-max_len=40 -timeout=10 -print_final_stats=1)

command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz

fuzz() { # cargo fuzz SUBCOMMAND [ARGS...] with the settings above
    local sub=$1
    shift
    RUSTFLAGS=$FUZZ_RUSTFLAGS cargo fuzz "$sub" "${FUZZ_BUILD[@]}" "$@"
}

median() { # the median of the numbers on stdin, one a line
    sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'
}
