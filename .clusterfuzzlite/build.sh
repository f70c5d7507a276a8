#!/bin/bash -eu
# ClusterFuzzLite / OSS-Fuzz build: one binary per fuzz target and variant expected to pass,
# named `<target>--<variant>` (the target reads its variant from its name), and trace_load as is. Buggy variants are
# left out: their failure is known, and the nightly GitHub job checks that it is still found.
# Runs in the base-builder-rust image (nightly, cargo-fuzz, $SRC, $OUT, $SANITIZER set), or
# locally: OUT=/tmp/out SANITIZER=none .clusterfuzzlite/build.sh
if [ -d "${SRC:-}/kgrace" ]; then cd "$SRC/kgrace"; else cd "$(dirname "$0")/.."; fi
out=${OUT:?set OUT to the output directory}
mkdir -p "$out"
sanitizer=${SANITIZER:-address}
flags=(-O --debug-assertions)
case "$sanitizer" in
    address) flags+=(--features asan) ;;
    coverage) ;;
    *) flags+=(--sanitizer none) ;;
esac
cargo fuzz build "${flags[@]}"
cargo build --release --bin kgrace
triple=$(rustc -vV | sed -n 's/^host: //p')
for target in $(cargo fuzz list); do
    # A harness of your own (examples/<target>.rs) is listed by its own binary.
    kgrace=target/release/kgrace
    if [ -f "examples/$target.rs" ]; then
        cargo build --release --example "$target"
        kgrace=target/release/examples/$target
    fi
    # A target that is no harness (trace_load) is one binary, under its own name.
    if ! "$kgrace" list --json | python3 -c '
import json, sys
sys.exit(0 if any(h["harness"] == sys.argv[1] for h in json.load(sys.stdin)) else 1)' "$target"; then
        cp "fuzz/target/$triple/release/$target" "$out/$target"
        printf '[libfuzzer]\nmax_len = 4096\n' >"$out/$target.options"
        if [ -d "corpus/$target" ]; then
            (cd "corpus/$target" && zip -q -r "$out/${target}_seed_corpus.zip" .)
        fi
        continue
    fi
    variants=$("$kgrace" list --json | python3 -c '
import json, sys
for h in json.load(sys.stdin):
    if h["harness"] == sys.argv[1]:
        print("\n".join(v["name"] for v in h["variants"] if not v["fails"]))' "$target")
    for variant in $variants; do
        name="$target--$variant"
        cp "fuzz/target/$triple/release/$target" "$out/$name"
        printf '[libfuzzer]\nmax_len = 40\n' >"$out/$name.options"
        if [ -d "corpus/$target" ]; then
            (cd "corpus/$target" && zip -q -r "$out/${name}_seed_corpus.zip" .)
        fi
    done
done
ls -l "$out"
