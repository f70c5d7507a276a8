//! Traces: the regressions in `replay/` replay to their failure, runs are deterministic, and a
//! trace that no longer fits is reported as diverged.

use std::path::{Path, PathBuf};

use kgrace::sched::{Decision, SchedulerSpec};
use kgrace::{Budget, Explorer, Trace, Verdict};

fn replay_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("replay")
}

fn traces() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(replay_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    v.sort();
    v
}

#[test]
fn every_trace_in_replay_reproduces_its_failure_at_its_step() {
    let files = traces();
    assert!(!files.is_empty(), "replay/ holds no traces");
    for path in files {
        let trace = Trace::load(&path).unwrap();
        let want = trace
            .failure
            .clone()
            .unwrap_or_else(|| panic!("{} records no failure", path.display()));
        let got = trace.replay().unwrap();
        assert_eq!(trace.verdict(&got), Verdict::Reproduced, "{}", path.display());
        let f = got.failure.unwrap();
        assert_eq!(
            (f.kind, f.step, &f.message),
            (want.kind, want.step, &want.message)
        );
        assert_eq!(got.events, trace.events, "{}: events differ", path.display());
    }
}

#[test]
fn the_same_seed_gives_the_same_decisions_twice() {
    let run = |seed| {
        Explorer::new("mutex_unlock_free", "buggy")
            .unwrap()
            .scheduler(SchedulerSpec::Pct { depth: 3, seed })
            .budget(Budget::Executions(1_000))
            .run()
    };
    for seed in [5, 6] {
        let (a, b) = (run(seed), run(seed));
        assert_eq!(a.executions, b.executions);
        let (ta, tb) = (a.trace.unwrap(), b.trace.unwrap());
        assert_eq!(ta.decisions, tb.decisions);
        assert_eq!(ta.events, tb.events);
    }
    // And a different seed explores differently.
    assert_ne!(run(5).trace.unwrap().decisions, run(6).trace.unwrap().decisions);
}

fn first_trace() -> Trace {
    Trace::load(&replay_dir().join("mutex_unlock_free-buggy-1.json")).unwrap()
}

#[test]
fn a_hand_edited_trace_that_no_longer_fits_is_diverged() {
    let mut t = first_trace();
    // Run CPU3, which the harness never has.
    let i = t.decisions.len() / 2;
    t.decisions[i] = Decision::Cpu(3);
    let r = t.replay().unwrap();
    assert!(
        matches!(t.verdict(&r), Verdict::Diverged(ref m) if m.contains("CPU3")),
        "{:?}",
        t.verdict(&r)
    );
    assert_eq!(r.divergence.unwrap().decision, i);
}

#[test]
fn a_truncated_decision_list_is_diverged() {
    let mut t = first_trace();
    t.decisions.truncate(t.decisions.len() / 2);
    let r = t.replay().unwrap();
    assert!(matches!(t.verdict(&r), Verdict::Diverged(ref m) if m.contains("ends after")));
}

#[test]
fn a_trace_recording_a_failure_that_does_not_happen_is_diverged() {
    let mut t = first_trace();
    t.failure.as_mut().unwrap().step += 1;
    let r = t.replay().unwrap();
    assert!(matches!(t.verdict(&r), Verdict::Diverged(_)));
}

#[test]
fn parse_rejects_what_is_not_a_trace() {
    let good = serde_json::to_string(&first_trace()).unwrap();
    assert!(Trace::parse(&good).is_ok());
    assert!(Trace::parse(&good[..good.len() / 2])
        .unwrap_err()
        .contains("truncated"));
    assert!(Trace::parse("hello").unwrap_err().contains("not valid JSON"));
    assert!(Trace::parse("{}").unwrap_err().contains("not a kgrace trace"));
    let v9 = good
        .replacen("\"version\":2", "\"version\":9", 1)
        .replacen("\"version\":1", "\"version\":9", 1);
    assert!(Trace::parse(&v9).unwrap_err().contains("version 9"));
    let bad = good.replacen("\"decisions\":[", "\"decisions\":[\"x\",", 1);
    assert!(Trace::parse(&bad).unwrap_err().contains("malformed"));
}

#[test]
fn saving_never_overwrites_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let t = first_trace();
    let a = t.save_new(dir.path()).unwrap();
    let before = std::fs::read(&a).unwrap();
    let b = t.save_new(dir.path()).unwrap();
    assert_ne!(a, b);
    assert_eq!(std::fs::read(&a).unwrap(), before);
}

#[test]
fn a_format_1_trace_still_replays_as_sequentially_consistent() {
    let t = first_trace();
    let mut v = serde_json::to_value(&t).unwrap();
    let obj = v.as_object_mut().unwrap();
    obj.insert("version".into(), 1.into());
    obj.remove("memory");
    let old = Trace::parse(&v.to_string()).expect("a version 1 trace loads");
    assert_eq!(old.memory, kgrace::MemoryModel::Sc);
    let r = old.replay().unwrap();
    assert_eq!(old.verdict(&r), t.verdict(&t.replay().unwrap()));
}
