//! The `kgrace` binary: exit codes and messages, bad input included.

use std::path::Path;
use std::process::{Command, Output};

fn kgrace(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kgrace"))
        .args(args)
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn a_replay_trace() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("replay/mutex_unlock_free-buggy-1.json")
        .to_string_lossy()
        .into_owned()
}

#[test]
fn replay_of_a_failing_trace_exits_1_and_draws_the_cpus() {
    let o = kgrace(&["replay", &a_replay_trace()]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("CPU1 hmm_notifier_release") && out.contains("CPU2 close"),
        "{out}"
    );
    assert!(
        (out.contains("use-after-free") || out.contains("data-race")) && out.contains("reproduced"),
        "{out}"
    );
}

#[test]
fn corrupt_or_truncated_traces_exit_2_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(a_replay_trace()).unwrap();
    let cases = [
        ("truncated.json", text[..text.len() / 3].to_string(), "truncated"),
        ("garbage.json", "not json at all".to_string(), "not valid JSON"),
        ("other.json", "{\"format\": \"other\"}".to_string(), "format"),
    ];
    for (name, body, want) in cases {
        let p = dir.path().join(name);
        std::fs::write(&p, body).unwrap();
        let o = kgrace(&["replay", p.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(2), "{name}");
        assert!(stderr(&o).contains(want), "{name}: {}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"), "{name}: {}", stderr(&o));
    }
    let o = kgrace(&["replay", dir.path().join("missing.json").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("cannot read trace"));
}

#[test]
fn unknown_names_and_bad_flags_exit_2() {
    let o = kgrace(&["run", "no_such_harness"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("unknown harness") && stderr(&o).contains("mutex_unlock_free"));
    let o = kgrace(&["run", "mutex_unlock_free", "--variant", "nope"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no variant `nope`"));
    let o = kgrace(&["run", "mutex_unlock_free", "--depth", "0"]);
    assert_eq!(o.status.code(), Some(2));
    let o = kgrace(&["run", "mutex_unlock_free", "--frobnicate"]);
    assert_eq!(o.status.code(), Some(2));
}

/// `kgrace run mutex_unlock_free --seed 4 --json` into `dir`: the output and its summary.
fn run_json(dir: &str) -> (Output, serde_json::Value) {
    let o = kgrace(&[
        "run",
        "mutex_unlock_free",
        "--seed",
        "4",
        "--trace-dir",
        dir,
        "--json",
    ]);
    let v = serde_json::from_str(stdout(&o).trim()).unwrap_or_else(|e| panic!("{e}: {}", stdout(&o)));
    (o, v)
}

#[test]
fn run_writes_a_new_trace_and_exits_1_on_failure_and_0_when_clean() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let (o, v) = run_json(d);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        v["result"] == "use-after-free" || v["result"] == "data-race",
        "{v}"
    );
    let path = v["trace"].as_str().unwrap().to_string();
    let (_, v2) = run_json(d);
    assert_ne!(
        v2["trace"].as_str().unwrap(),
        path,
        "a second run must not overwrite the first trace"
    );
    let o = kgrace(&["replay", &path]);
    assert_eq!(o.status.code(), Some(1));

    let o = kgrace(&[
        "run",
        "mutex_unlock_free",
        "--variant",
        "fixed",
        "--iterations",
        "500",
        "--trace-dir",
        d,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
}

#[test]
fn list_states_every_variants_expected_verdict() {
    let o = kgrace(&["list"]);
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    assert!(out.contains("buggy") && out.contains("fails: use-after-free | data-race"));
    assert!(out.contains("fixed") && out.contains("passes"));
}
