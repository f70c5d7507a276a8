//! Traces: the regressions in `replay/` replay to their failure, runs are deterministic, and a
//! trace that no longer fits is reported as diverged.

use std::path::{Path, PathBuf};
use std::process::Command;

use kgrace::sched::{Decision, SchedulerSpec};
use kgrace::{Budget, Explorer, Trace, Verdict};

fn replay_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("replay")
}

/// The regressions: the traces in `replay/` that git tracks, so that a trace written there by hand
/// and never committed is not taken for one. Without git (a source archive), every trace there.
fn traces() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tracked = Command::new("git")
        .args(["ls-files", "-z", "--", "replay/"])
        .current_dir(root)
        .output()
        .ok()
        .filter(|o| o.status.success() && !o.stdout.is_empty());
    let mut v: Vec<PathBuf> = match tracked {
        Some(o) => o
            .stdout
            .split(|&b| b == 0)
            .filter(|p| !p.is_empty())
            .map(|p| root.join(String::from_utf8_lossy(p).as_ref()))
            .collect(),
        None => std::fs::read_dir(replay_dir())
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect(),
    };
    v.retain(|p| p.extension().is_some_and(|e| e == "json"));
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
    // The same execution saved twice: one file, left as it was.
    let a = t.save_new(dir.path()).unwrap();
    assert!(!a.existed);
    let before = std::fs::read(&a.path).unwrap();
    let b = t.save_new(dir.path()).unwrap();
    assert_eq!((b.path.clone(), b.existed), (a.path.clone(), true));
    assert_eq!(std::fs::read(&a.path).unwrap(), before);
    // Another file by the trace's name is an error, and stays as it is.
    let other = tempfile::tempdir().unwrap();
    let squatter = other.path().join(t.file_name());
    std::fs::write(&squatter, "mine").unwrap();
    let e = t.save_new(other.path()).unwrap_err();
    assert!(e.to_string().contains("cannot write trace"), "{e}");
    assert_eq!(std::fs::read_to_string(&squatter).unwrap(), "mine");
    // A different execution gets a different name.
    let mut u = t.clone();
    u.decisions.pop();
    assert_ne!(u.file_name(), t.file_name());
}

/// Naming is O(1): a trace's name depends on the trace alone, so each save makes one attempt at
/// one name, however many traces the directory holds (the old `-1`, `-2`, ... probing made the
/// n-th save try n names). Counted in files and names, not time.
#[test]
fn saving_many_traces_into_one_directory_takes_one_attempt_each() {
    let dir = tempfile::tempdir().unwrap();
    let t = first_trace();
    let n = 500;
    for i in 0..n {
        let mut u = t.clone();
        u.decisions.push(Decision::Cpu(i));
        let s = u.save_new(dir.path()).unwrap();
        // The first name tried was free, and is the one the trace alone determines.
        assert_eq!(s.path, dir.path().join(u.file_name()));
        assert!(!s.existed, "trace {i}: its name was taken");
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), n);
}

#[test]
fn a_trace_over_the_size_limit_is_refused_unparsed() {
    let limit = kgrace::trace::MAX_TRACE_BYTES;
    /// Whitespace without end, counting what is read of it.
    struct Endless(u64);
    impl std::io::Read for Endless {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            buf.fill(b' ');
            self.0 += buf.len() as u64;
            Ok(buf.len())
        }
    }
    let mut endless = Endless(0);
    let e = Trace::read_from(Path::new("endless"), &mut endless).unwrap_err();
    assert!(e.to_string().contains("larger than 32 MiB"), "{e}");
    assert_eq!(endless.0, limit + 1, "read past the limit");
    // A file exactly at the limit is parsed (and found to be only whitespace).
    let at_limit = vec![b' '; limit as usize];
    let e = Trace::read_from(Path::new("blank"), &at_limit[..]).unwrap_err();
    assert!(e.to_string().contains("empty"), "{e}");
}

#[test]
fn a_bad_decision_says_which_one_and_what_was_expected() {
    let good = serde_json::to_string(&first_trace()).unwrap();
    for (entry, want) in [
        ("\"x\"", "decision 2 (counting from 0) to be a CPU number"),
        ("-1", "decision 2 (counting from 0) to be a CPU number"),
        ("1.5", "decision 2"),
        ("{\"read\": -3}", "the `read` of decision 2"),
        ("{\"read\": 4294967296}", "the `read` of decision 2"),
        (
            "{\"cpu\": 1}",
            "decision 2 has a field `cpu`; expected `read` or `value`",
        ),
        (
            "{\"read\": 1, \"value\": 2}",
            "decision 2 has a second field `value`",
        ),
        ("{}", "decision 2"),
    ] {
        let bad = good.replacen("\"decisions\":[", &format!("\"decisions\":[0,0,{entry},"), 1);
        let e = Trace::parse(&bad).unwrap_err();
        assert!(e.contains(want), "{entry}: {e}");
    }
}

#[test]
fn decisions_left_after_the_failure_are_a_divergence_not_a_reproduction() {
    let t = first_trace();
    let mut longer = t.clone();
    longer.decisions.extend([Decision::Cpu(0), Decision::Cpu(1)]);
    let r = longer.replay().unwrap();
    assert_eq!(r.unused, 2);
    match longer.verdict(&r) {
        Verdict::Diverged(why) => assert!(why.contains("2 more decisions after it"), "{why}"),
        v => panic!("{v:?}"),
    }
    // The trace as written uses every decision.
    assert_eq!(t.replay().unwrap().unused, 0);
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
