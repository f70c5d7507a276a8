//! The fuzzer's session without libFuzzer: random byte strings as inputs.

use kgrace::fuzz::{replay_input, FuzzInput, Session};
use kgrace::sched::SplitMix64;
use kgrace::{FailureKind, Verdict};

/// Random inputs of 8 to 40 bytes, the lengths libFuzzer starts from.
fn inputs(seed: u64) -> impl Iterator<Item = Vec<u8>> {
    let mut rng = SplitMix64::new(seed);
    std::iter::from_fn(move || {
        let len = 8 + rng.below(33);
        Some((0..len).map(|_| rng.next_u64() as u8).collect())
    })
}

#[test]
fn random_inputs_find_the_buggy_use_after_free_and_its_trace_reproduces() {
    let mut s = Session::new("mutex_unlock_free", "buggy").unwrap();
    let (bytes, failure) = inputs(1)
        .take(20_000)
        .find_map(|b| s.run(&FuzzInput::decode(&b)).map(|f| (b, f)))
        .expect("20,000 random schedules include the use-after-free");
    // The free racing with the unlocker's access (KCSAN), or the access after it (KASAN).
    assert!(
        matches!(failure.kind, FailureKind::UseAfterFree | FailureKind::DataRace),
        "{}",
        failure.message
    );
    let trace = s.trace(&FuzzInput::decode(&bytes));
    assert_eq!(
        trace.failure.as_ref().map(|f| (f.kind, f.step)),
        Some((failure.kind, failure.step))
    );
    assert_eq!(trace.verdict(&trace.replay().unwrap()), Verdict::Reproduced);
    // The raw bytes, as libFuzzer saves them, give the same execution.
    let raw = replay_input("mutex_unlock_free", "buggy", kgrace::MemoryModel::Sc, &bytes).unwrap();
    assert_eq!(raw.decisions, trace.decisions);
}

#[test]
fn the_session_goes_on_after_a_failure() {
    let mut s = Session::new("mutex_unlock_free", "buggy").unwrap();
    let mut failures = 0;
    for b in inputs(2).take(20_000) {
        failures += s.run(&FuzzInput::decode(&b)).is_some() as u32;
        if failures == 2 {
            break;
        }
    }
    assert_eq!(failures, 2, "two failures in 20,000 random schedules");
}

#[test]
fn fixed_variants_pass_every_random_schedule() {
    for variant in ["fixed", "debug-mutexes"] {
        let mut s = Session::new("mutex_unlock_free", variant).unwrap();
        for b in inputs(3).take(3_000) {
            if let Some(f) = s.run(&FuzzInput::decode(&b)) {
                panic!("{variant} failed under input {b:?}: {}", f.message);
            }
        }
        assert_eq!(s.executions(), 3_000);
    }
}

#[test]
fn the_same_input_gives_the_same_execution() {
    let mut a = Session::new("mutex_unlock_free", "fixed").unwrap();
    let input = FuzzInput::decode(&[3, 1, 2, 0, 0, 0, 0, 0, 0x40, 0x7f]);
    let first = a.trace(&input);
    for b in inputs(4).take(50) {
        a.run(&FuzzInput::decode(&b));
    }
    assert_eq!(a.trace(&input).decisions, first.decisions);
}

#[test]
fn unknown_names_are_errors() {
    assert!(Session::new("no_such_harness", "buggy").is_err());
    assert!(Session::new("mutex_unlock_free", "no_such_variant").is_err());
    assert!(replay_input("mutex_unlock_free", "nope", kgrace::MemoryModel::Sc, b"").is_err());
}

/// A trace made from a fuzz input carries the input's bytes, and they give the same execution:
/// either file reproduces the failure.
#[test]
fn a_fuzz_trace_carries_its_input_and_the_input_reproduces_it() {
    let mut s = Session::new("mutex_unlock_free", "buggy").unwrap();
    let input = inputs(2)
        .take(20_000)
        .map(|b| FuzzInput::decode(&b))
        .find(|i| s.run(i).is_some())
        .expect("20,000 random schedules include a failure");
    let trace = s.trace(&input);
    let bytes = trace.fuzz_input_bytes().expect("the input is in the trace");
    assert_eq!(FuzzInput::decode(&bytes), input);
    // Through a file, as `kgrace replay --harness` reads it.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trace.json");
    std::fs::write(&path, serde_json::to_vec(&trace).unwrap()).unwrap();
    let loaded = kgrace::Trace::load(&path).unwrap();
    assert_eq!(loaded.fuzz_input, trace.fuzz_input);
    let raw = replay_input(
        "mutex_unlock_free",
        "buggy",
        kgrace::MemoryModel::Sc,
        &loaded.fuzz_input_bytes().unwrap(),
    )
    .unwrap();
    assert_eq!(raw.decisions, trace.decisions);
    assert_eq!(raw.failure, trace.failure);
    assert_eq!(raw.verdict(&raw.replay().unwrap()), Verdict::Reproduced);
    // A raw artifact's trace keeps the bytes as given (up to what the target reads).
    assert_eq!(raw.fuzz_input, trace.fuzz_input);
    // The trace the target writes is minimized, and keeps the input the execution came from.
    let failure = trace.failure.clone().unwrap();
    let saved = s.save_failure_trace(&input, &failure, dir.path()).unwrap();
    let written = kgrace::Trace::load(&saved.path).unwrap();
    assert_eq!(written.fuzz_input, trace.fuzz_input);
    let raw_size = kgrace::minimize::size(&trace).unwrap();
    assert_eq!(written.minimized_from, Some(raw_size));
    assert!(kgrace::minimize::size(&written).unwrap() < raw_size);
    let w = written.failure.clone().unwrap();
    assert_eq!(
        (w.kind, &w.cpu, &w.call_trace),
        (failure.kind, &failure.cpu, &failure.call_trace)
    );
    assert_eq!(written.verdict(&written.replay().unwrap()), Verdict::Reproduced);
}

/// The directory of failure traces outlives builds (the nightly keeps it): a trace by the same
/// signature name that this kgrace no longer reproduces (one an older model wrote) is left as it
/// is, and the failure gets a new `-2` trace that replays; one that still reproduces is kept.
#[test]
fn a_stale_trace_of_the_same_failure_is_kept_beside_a_new_one() {
    let mut s = Session::new("mutex_unlock_free", "buggy").unwrap();
    let (input, failure) = inputs(7)
        .take(20_000)
        .map(|b| FuzzInput::decode(&b))
        .find_map(|i| s.run(&i).map(|f| (i, f)))
        .expect("20,000 random schedules include a failure");
    let dir = tempfile::tempdir().unwrap();
    let first = s.save_failure_trace(&input, &failure, dir.path()).unwrap();
    assert!(!first.existed);
    // Still reproduces: the same file is the failure's trace.
    let again = s.save_failure_trace(&input, &failure, dir.path()).unwrap();
    assert!(again.existed);
    assert_eq!(again.path, first.path);
    // Make it stale: an execution this kgrace does not run any more.
    let mut stale = kgrace::Trace::load(&first.path).unwrap();
    stale.decisions.truncate(stale.decisions.len() / 2);
    let stale_text = serde_json::to_vec(&stale).unwrap();
    std::fs::write(&first.path, &stale_text).unwrap();
    let fresh = s.save_failure_trace(&input, &failure, dir.path()).unwrap();
    assert!(!fresh.existed);
    assert_ne!(fresh.path, first.path);
    assert!(
        fresh.path.to_string_lossy().ends_with("-2.json"),
        "{}",
        fresh.path.display()
    );
    assert_eq!(
        std::fs::read(&first.path).unwrap(),
        stale_text,
        "the stale file was changed"
    );
    let t = kgrace::Trace::load(&fresh.path).unwrap();
    assert_eq!(t.verdict(&t.replay().unwrap()), Verdict::Reproduced);
}
