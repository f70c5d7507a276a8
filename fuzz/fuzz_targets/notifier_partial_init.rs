#![no_main]
libfuzzer_sys::fuzz_target!(|input: kgrace::fuzz::FuzzInput| {
    kgrace::fuzz::run_target("notifier_partial_init", &input)
});
