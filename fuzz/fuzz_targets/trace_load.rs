#![no_main]
//! The trace loader against arbitrary bytes: `kgrace replay` reads any file it is given. No input
//! may panic it or make it allocate without bound (libFuzzer's `-rss_limit_mb` and
//! `-malloc_limit_mb` catch that), and what loads must save and load back unchanged.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(trace) = kgrace::Trace::from_slice(data) {
        let json = serde_json::to_vec(&trace).expect("a trace always serializes");
        let back = kgrace::Trace::from_slice(&json).expect("a trace kgrace writes loads");
        assert_eq!(back, trace);
        let _ = trace.file_name();
    }
});
