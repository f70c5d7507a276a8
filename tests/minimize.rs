//! Minimization: a failing trace shrinks to fewer preemptions, then fewer steps, and still fails
//! the same way at the same place; the minimized trace replays exactly.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use kgrace::minimize::{minimize, size};
use kgrace::{Trace, Verdict};

fn kgrace(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kgrace"))
        .args(args)
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn replay_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("replay")
}

fn checked_in() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(replay_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    v.sort();
    v
}

/// The source line of the failing step: part of "the same place".
fn failing_source(events: &[kgrace::trace::Event], step: u64) -> String {
    events
        .iter()
        .rev()
        .find(|e| e.step == step)
        .map(|e| e.source.clone())
        .unwrap_or_default()
}

/// Every checked-in failing trace: the minimized one is no bigger, fails with the same kind, on
/// the same CPU, in the same functions, at the same source line, and replays to it. The table it
/// prints (`cargo test --release --test minimize -- --nocapture`) is the before and after.
#[test]
fn every_checked_in_trace_minimizes_to_the_same_failure_and_replays() {
    let mut shrunk = 0;
    let (mut p_before, mut p_after) = (0, 0);
    for path in checked_in() {
        let t = Trace::load(&path).unwrap();
        let want = t.failure.clone().unwrap();
        let m = minimize(&t).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(m.after <= m.before, "{}", path.display());
        assert_eq!(m.before, size(&t).unwrap());
        assert_eq!(m.after, size(&m.trace).unwrap(), "{}", path.display());
        let got = m.trace.failure.clone().unwrap();
        assert_eq!(
            (got.kind, &got.cpu, &got.call_trace),
            (want.kind, &want.cpu, &want.call_trace),
            "{}",
            path.display()
        );
        assert_eq!(
            failing_source(&m.trace.events, got.step),
            failing_source(&t.events, want.step),
            "{}",
            path.display()
        );
        let r = m.trace.replay().unwrap();
        assert_eq!(m.trace.verdict(&r), Verdict::Reproduced, "{}", path.display());
        assert_eq!(m.after.steps, got.step);
        if m.after < m.before {
            shrunk += 1;
            assert_eq!(m.trace.minimized_from, Some(m.before));
            assert_eq!(m.trace.scheduler, t.scheduler, "where it came from is kept");
        } else {
            assert_eq!(m.trace, t, "a minimal trace comes back as it was");
        }
        p_before += m.before.preemptions;
        p_after += m.after.preemptions;
        println!(
            "{:<50} {:>3} preemptions {:>4} steps -> {:>2} preemptions {:>4} steps ({} runs)",
            path.file_name().unwrap().to_string_lossy(),
            m.before.preemptions,
            m.before.steps,
            m.after.preemptions,
            m.after.steps,
            m.runs
        );
    }
    println!("total preemptions: {p_before} -> {p_after}");
    // The traces were found by randomized strategies, full of switches that do not matter.
    assert!(shrunk >= 20, "only {shrunk} traces got smaller");
    assert!(p_after * 4 <= p_before, "preemptions {p_before} -> {p_after}");
}

#[test]
fn minimizing_a_minimized_trace_changes_nothing_and_keeps_the_raw_size() {
    let t = Trace::load(&replay_dir().join("concurrent_srcu-buggy-1.json")).unwrap();
    let once = minimize(&t).unwrap();
    assert!(once.after.preemptions < once.before.preemptions);
    let twice = minimize(&once.trace).unwrap();
    assert!(twice.after <= once.after);
    assert_eq!(
        twice.trace.minimized_from,
        Some(once.before),
        "the raw size is kept"
    );
}

#[test]
fn a_trace_without_a_failure_or_whose_decisions_no_longer_fail_is_refused() {
    let mut t = Trace::load(&replay_dir().join("mutex_unlock_free-buggy-1.json")).unwrap();
    let mut clean = t.clone();
    clean.failure = None;
    assert!(minimize(&clean).unwrap_err().to_string().contains("no failure"));
    // Another failure step than its decisions lead to.
    if let Some(f) = t.failure.as_mut() {
        f.step += 1;
    }
    let e = minimize(&t).unwrap_err().to_string();
    assert!(e.contains("not with the"), "{e}");
}

fn trace_of(dir: &Path) -> Trace {
    let files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    Trace::load(&files[0]).unwrap()
}

#[test]
fn run_writes_a_minimized_trace_unless_no_minimize() {
    let raw = tempfile::tempdir().unwrap();
    let min = tempfile::tempdir().unwrap();
    let args = [
        "run",
        "concurrent_srcu",
        "--seed",
        "3",
        "--jobs",
        "1",
        "--trace-dir",
    ];
    let o = kgrace(&[&args[..], &[raw.path().to_str().unwrap(), "--no-minimize"]].concat());
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let o = kgrace(&[&args[..], &[min.path().to_str().unwrap()]].concat());
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("minimized from"), "{}", text(&o.stdout));
    let (raw, min) = (trace_of(raw.path()), trace_of(min.path()));
    assert_eq!(raw.minimized_from, None);
    let raw_size = size(&raw).unwrap();
    assert_eq!(min.minimized_from, Some(raw_size));
    assert!(size(&min).unwrap() < raw_size);
    assert_eq!((min.scheduler, min.execution), (raw.scheduler, raw.execution));
    assert_eq!(min.failure.unwrap().kind, raw.failure.unwrap().kind);
}

#[test]
fn minimize_writes_a_new_file_and_never_replaces_one_unasked() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("t.json");
    std::fs::copy(replay_dir().join("mutex_unlock_free-buggy-1.json"), &src).unwrap();
    let original = std::fs::read(&src).unwrap();
    // Default: a new name next to it.
    let o = kgrace(&["minimize", src.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(
        text(&o.stdout).contains("before: ") && text(&o.stdout).contains(" preemptions, "),
        "{}",
        text(&o.stdout)
    );
    assert_eq!(std::fs::read(&src).unwrap(), original);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    // An existing OUT: refused, left as it is, unless --force.
    let out = dir.path().join("out.json");
    std::fs::write(&out, "mine").unwrap();
    let o = kgrace(&["minimize", src.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("--force"), "{}", text(&o.stderr));
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "mine");
    let o = kgrace(&[
        "minimize",
        src.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--force",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let m = Trace::load(&out).unwrap();
    assert_eq!(kgrace(&["replay", out.to_str().unwrap()]).status.code(), Some(1));
    assert!(m.minimized_from.is_some());
}

#[test]
fn minimize_of_bad_input_exits_2_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{\"format\": \"kgrace-trace\", \"version\": 2, \"harn").unwrap();
    for args in [
        vec!["minimize", bad.to_str().unwrap()],
        vec!["minimize", "/nonexistent/trace.json"],
        vec!["minimize"],
        vec!["minimize", bad.to_str().unwrap(), "--force"],
    ] {
        let o = kgrace(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o.stderr));
        assert!(!text(&o.stderr).contains("panicked"), "{}", text(&o.stderr));
        assert!(!text(&o.stderr).is_empty());
    }
    // A clean trace has nothing to minimize.
    let mut t = Trace::load(&replay_dir().join("mutex_unlock_free-buggy-1.json")).unwrap();
    t.failure = None;
    let clean = dir.path().join("clean.json");
    std::fs::write(&clean, serde_json::to_string(&t).unwrap()).unwrap();
    let o = kgrace(&["minimize", clean.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("no failure"), "{}", text(&o.stderr));
}

/// The mutant: keeping only the kind of failure, minimization ends at other failures than the
/// ones found (another CPU, function or line), on some of the checked-in traces. So it is the
/// place check that keeps every minimized trace at its own failure above.
#[test]
fn keeping_only_the_kind_loses_the_place() {
    use kgrace::minimize::{minimize_keeping, Keep};
    let mut moved = Vec::new();
    for path in checked_in() {
        let t = Trace::load(&path).unwrap();
        let want = t.failure.clone().unwrap();
        let m = minimize_keeping(&t, Keep::Kind).unwrap();
        let got = m.trace.failure.clone().unwrap();
        assert_eq!(got.kind, want.kind);
        if (
            &got.cpu,
            &got.call_trace,
            failing_source(&m.trace.events, got.step),
        ) != (&want.cpu, &want.call_trace, failing_source(&t.events, want.step))
        {
            moved.push(path.file_name().unwrap().to_string_lossy().into_owned());
        }
    }
    println!("failures moved without the place check: {moved:?}");
    assert!(
        !moved.is_empty(),
        "the place check made no difference on any trace"
    );
}
