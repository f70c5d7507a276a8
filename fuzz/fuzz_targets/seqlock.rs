#![no_main]
//! The fuzz target of a harness of your own: the example's, from `examples/seqlock.rs`, whose
//! `main` is not this binary's. `ci/fuzz.sh seqlock` replays what it finds through the example.
#[path = "../../examples/seqlock.rs"]
mod seqlock;
libfuzzer_sys::fuzz_target!(|input: kgrace::fuzz::FuzzInput| {
    kgrace::fuzz::run_target_in(seqlock::HARNESSES, "seqlock", &input)
});
