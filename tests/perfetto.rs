//! `kgrace replay --perfetto`: the execution as a Chrome/Perfetto trace-event file.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use kgrace::Trace;
use serde_json::Value;

fn kgrace(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kgrace"))
        .args(args)
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn replay_trace(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("replay").join(name)
}

/// The timeline of a checked-in trace, through the command line.
fn timeline_of(name: &str) -> (Trace, Vec<Value>) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("timeline.json");
    let trace = replay_trace(name);
    let o = kgrace(&[
        "replay",
        trace.to_str().unwrap(),
        "--perfetto",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let v: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).expect("valid JSON");
    let events = v["traceEvents"].as_array().expect("a traceEvents array").clone();
    (Trace::load(&trace).unwrap(), events)
}

fn tid(e: &Value) -> u64 {
    e["tid"].as_u64().unwrap()
}

fn ts(e: &Value) -> f64 {
    e["ts"].as_f64().unwrap()
}

/// The structure Perfetto's JSON importer needs, checked on one timeline.
fn check_structure(trace: &Trace, events: &[Value]) {
    // One named track per CPU of the execution (a CPU that only entered kernel functions, such as
    // a kworker that went to sleep, has its track too), and every event on one of them.
    let tracks: BTreeMap<u64, String> = events
        .iter()
        .filter(|e| e["ph"] == "M" && e["name"] == "thread_name")
        .map(|e| (tid(e), e["args"]["name"].as_str().unwrap().to_string()))
        .collect();
    let cpus: BTreeSet<u64> = trace.events.iter().map(|e| u64::from(e.cpu)).collect();
    assert!(
        cpus.is_subset(&tracks.keys().copied().collect::<BTreeSet<_>>()),
        "{cpus:?} {tracks:?}"
    );
    for t in tracks.keys() {
        assert!(
            events.iter().any(|e| e["ph"] != "M" && tid(e) == *t),
            "track {t} has nothing on it"
        );
    }
    for (t, name) in &tracks {
        assert!(name.starts_with(&format!("CPU{t}")), "{name}");
    }
    for e in events.iter().filter(|e| e["ph"] != "M") {
        assert!(tracks.contains_key(&tid(e)), "{e}");
        assert!(ts(e) >= 0.0);
    }
    // A slice per access, one per event of the trace, at its step.
    let accesses: Vec<&Value> = events.iter().filter(|e| e["ph"] == "X").collect();
    assert_eq!(accesses.len(), trace.events.len());
    for (a, e) in accesses.iter().zip(&trace.events) {
        assert_eq!(a["args"]["step"], e.step);
        assert_eq!(tid(a), u64::from(e.cpu));
        assert_eq!(a["args"]["source"], e.source.as_str());
    }
    // On each track, slices in strictly increasing time: the importer sorts by time, and must
    // find them in the order they are written.
    let mut last: HashMap<u64, f64> = HashMap::new();
    for e in events
        .iter()
        .filter(|e| ["B", "E", "X"].contains(&e["ph"].as_str().unwrap()))
    {
        let prev = last.insert(tid(e), ts(e));
        assert!(prev.is_none_or(|p| p < ts(e)), "{e} after {prev:?}");
    }
    // Function slices: on each track, every E closes the innermost open B of the same name, in
    // time order, and nothing stays open.
    let mut open: HashMap<u64, Vec<(String, f64)>> = HashMap::new();
    let mut slices = 0;
    for e in events.iter().filter(|e| e["ph"] == "B" || e["ph"] == "E") {
        let stack = open.entry(tid(e)).or_default();
        let name = e["name"].as_str().unwrap().to_string();
        if e["ph"] == "B" {
            stack.push((name, ts(e)));
            slices += 1;
        } else {
            let (b, at) = stack.pop().unwrap_or_else(|| panic!("E without B: {e}"));
            assert_eq!(b, name);
            assert!(ts(e) >= at);
        }
    }
    assert!(open.values().all(Vec::is_empty), "unclosed slices: {open:?}");
    assert!(slices > 0, "no function slices");
    // Flows: every start has its finish, with the same id, and a finish binds to its slice.
    let mut starts: HashMap<u64, &Value> = HashMap::new();
    let mut finishes: HashMap<u64, &Value> = HashMap::new();
    for e in events {
        match e["ph"].as_str() {
            Some("s") => assert!(starts.insert(e["id"].as_u64().unwrap(), e).is_none()),
            Some("f") => {
                assert_eq!(e["bp"], "e");
                assert!(finishes.insert(e["id"].as_u64().unwrap(), e).is_none());
            }
            _ => {}
        }
    }
    assert_eq!(
        starts.keys().collect::<BTreeSet<_>>(),
        finishes.keys().collect::<BTreeSet<_>>()
    );
    for (id, s) in &starts {
        let f = finishes[id];
        assert!(ts(s) < ts(f), "a load reads an earlier store: {s} {f}");
        // Both ends fall inside an access slice of their track.
        for end in [s, f] {
            assert!(
                accesses.iter().any(|a| tid(a) == tid(end)
                    && ts(a) <= ts(end)
                    && ts(end) <= ts(a) + a["dur"].as_f64().unwrap()),
                "{end}"
            );
        }
    }
}

#[test]
fn a_timeline_has_a_track_per_cpu_balanced_slices_and_flows_between_cpus() {
    let (trace, events) = timeline_of("mutex_unlock_free-buggy-1.json");
    check_structure(&trace, &events);
    // The unlocker's loads read what other CPUs stored: arrows between tracks.
    let flows: Vec<(&Value, &Value)> = events
        .iter()
        .filter(|e| e["ph"] == "s")
        .map(|s| {
            let f = events
                .iter()
                .find(|f| f["ph"] == "f" && f["id"] == s["id"])
                .unwrap();
            (s, f)
        })
        .collect();
    assert!(
        flows.iter().any(|(s, f)| tid(s) != tid(f)),
        "no flow between CPUs"
    );
    // The failure is marked where it happened.
    let fail = events.iter().find(|e| e["ph"] == "i").expect("a failure marker");
    let want = trace.failure.as_ref().unwrap();
    assert_eq!(fail["name"], want.kind.name());
    assert_eq!(fail["ts"].as_f64().unwrap().floor() as u64, want.step);
    // The slices name the kernel functions of the failing call trace.
    for func in &want.call_trace {
        assert!(
            events
                .iter()
                .any(|e| e["ph"] == "B" && e["name"] == func.as_str()),
            "{func}"
        );
    }
}

#[test]
fn every_checked_in_trace_gives_a_well_formed_timeline() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("replay");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    let mut stale_flows = 0;
    for n in &names {
        let trace = Trace::load(&dir.join(n)).unwrap();
        let r = trace.replay().unwrap();
        let v = kgrace::perfetto::timeline(&trace, &r);
        let events = v["traceEvents"].as_array().unwrap();
        check_structure(&trace, events);
        // A stale read (lkmm) gets its arrow, even from its own CPU's store.
        let stale: Vec<u64> = trace
            .events
            .iter()
            .filter(|e| e.stale.is_some_and(|s| s.read_from_step > 0))
            .map(|e| e.step)
            .collect();
        for step in stale {
            assert!(
                events
                    .iter()
                    .any(|e| e["ph"] == "f" && ts(e).floor() as u64 == step),
                "{n}: no arrow to the stale read of step {step}"
            );
            stale_flows += 1;
        }
    }
    assert!(stale_flows > 0, "no checked-in trace has a stale read");
}

#[test]
fn an_existing_output_is_refused_unless_forced_and_bad_flags_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("t.json");
    std::fs::write(&out, "mine").unwrap();
    let trace = replay_trace("state_in_sysfs-buggy-1.json");
    let t = trace.to_str().unwrap();
    let o = kgrace(&["replay", t, "--perfetto", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("--force"));
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "mine");
    let o = kgrace(&["replay", t, "--perfetto", out.to_str().unwrap(), "--force"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let v: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert!(v["traceEvents"].is_array());
    // --force alone, --perfetto without a file, an unwritable place.
    for args in [
        vec!["replay", t, "--force"],
        vec!["replay", t, "--perfetto"],
        vec!["replay", t, "--perfetto", "/nonexistent/dir/t.json"],
    ] {
        let o = kgrace(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(!text(&o.stderr).contains("panicked"));
    }
}
