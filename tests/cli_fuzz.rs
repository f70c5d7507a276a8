//! The `kgrace` binary and fuzzing: raw libFuzzer artifacts given to `replay`, `list --json`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use kgrace::fuzz::{FuzzInput, Session};
use kgrace::sched::SplitMix64;

fn kgrace(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kgrace"))
        .args(args)
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Raw bytes that make `buggy` fail, found the way the fuzzer would (random schedules), written
/// where cargo-fuzz writes artifacts: `<dir>/mutex_unlock_free/crash-...`.
fn a_crash_artifact(dir: &Path) -> PathBuf {
    let mut session = Session::new("mutex_unlock_free", "buggy").unwrap();
    let mut rng = SplitMix64::new(11);
    let bytes = (0..20_000)
        .map(|_| (0..16).map(|_| rng.next_u64() as u8).collect::<Vec<u8>>())
        .find(|b| session.run(&FuzzInput::decode(b)).is_some())
        .expect("a failing schedule among 20,000");
    let artifacts = dir.join("mutex_unlock_free");
    std::fs::create_dir_all(&artifacts).unwrap();
    let path = artifacts.join("crash-0123");
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn a_raw_artifact_replays_on_the_harness_of_its_directory() {
    let dir = tempfile::tempdir().unwrap();
    let artifact = a_crash_artifact(dir.path());
    let o = kgrace(&["replay", artifact.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(
        (out.contains("use-after-free") || out.contains("data-race")) && out.contains("reproduced"),
        "{out}"
    );

    // The same schedule on the fixed variant finishes cleanly.
    let o = kgrace(&["replay", "--variant", "fixed", artifact.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
}

#[test]
fn a_raw_artifact_elsewhere_needs_its_harness() {
    let dir = tempfile::tempdir().unwrap();
    let artifact = a_crash_artifact(dir.path());
    let moved = dir.path().join("crash-elsewhere");
    std::fs::rename(&artifact, &moved).unwrap();
    let moved = moved.to_str().unwrap();

    let o = kgrace(&["replay", moved]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("--harness"), "{}", text(&o.stderr));

    let o = kgrace(&["replay", "--harness", "mutex_unlock_free", moved]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));

    for (args, want) in [
        (vec!["--harness", "no_such_harness"], "unknown harness"),
        (
            vec!["--harness", "mutex_unlock_free", "--variant", "nope"],
            "no variant",
        ),
    ] {
        let mut all = vec!["replay"];
        all.extend(args);
        all.push(moved);
        let o = kgrace(&all);
        assert_eq!(o.status.code(), Some(2), "{all:?}");
        assert!(text(&o.stderr).contains(want), "{all:?}: {}", text(&o.stderr));
    }
}

#[test]
fn a_truncated_trace_is_still_reported_as_a_trace() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("mutex_unlock_free-buggy-1");
    std::fs::write(&p, "{\"format\": \"kgrace-trace\", \"vers").unwrap();
    let o = kgrace(&["replay", p.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("truncated"), "{}", text(&o.stderr));
}

#[test]
fn harness_flags_are_refused_for_json_traces() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("t.json");
    std::fs::write(&p, "{}").unwrap();
    let o = kgrace(&["replay", "--variant", "fixed", p.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("raw fuzz inputs"), "{}", text(&o.stderr));
}

#[test]
fn list_json_gives_every_variant_and_whether_it_should_fail() {
    let o = kgrace(&["list", "--json"]);
    assert_eq!(o.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    for h in kgrace::harness::all() {
        let entry = v
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["harness"] == h.name)
            .unwrap_or_else(|| panic!("{} missing", h.name));
        let variants = entry["variants"].as_array().unwrap();
        assert_eq!(variants.len(), h.variants.len());
        for (json, var) in variants.iter().zip(h.variants) {
            assert_eq!(json["name"], var.name);
            assert_eq!(json["fails"], var.expected != kgrace::harness::Expected::Passes);
        }
    }
}

#[test]
fn an_artifact_that_starts_like_json_is_still_a_fuzz_input() {
    let dir = tempfile::tempdir().unwrap();
    let artifacts = dir.path().join("mutex_unlock_free");
    std::fs::create_dir_all(&artifacts).unwrap();
    let p = artifacts.join("crash-7b");
    std::fs::write(&p, b"{\x01\x02").unwrap();
    let o = kgrace(&["replay", p.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let elsewhere = dir.path().join("crash-7b");
    std::fs::write(&elsewhere, b"{\x01\x02").unwrap();
    let o = kgrace(&[
        "replay",
        "--harness",
        "mutex_unlock_free",
        elsewhere.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
}

#[test]
fn a_raw_artifact_is_read_no_further_than_its_first_bytes() {
    // What the target reads of an input: later bytes change nothing.
    let mut rng = SplitMix64::new(3);
    let long: Vec<u8> = (0..4096).map(|_| rng.next_u64() as u8).collect();
    let n = kgrace::fuzz::INPUT_BYTES;
    assert_eq!(FuzzInput::decode(&long[..n]), FuzzInput::decode(&long));
    assert_ne!(FuzzInput::decode(&long[..n - 1]), FuzzInput::decode(&long));

    // So a huge artifact replays at once: only its first bytes are read.
    let dir = tempfile::tempdir().unwrap();
    let artifacts = dir.path().join("mutex_unlock_free");
    std::fs::create_dir_all(&artifacts).unwrap();
    let huge = artifacts.join("crash-huge");
    let f = std::fs::File::create(&huge).unwrap();
    f.set_len(64 << 30).unwrap();
    let o = kgrace(&["replay", huge.to_str().unwrap()]);
    assert!(matches!(o.status.code(), Some(0 | 1)), "{}", text(&o.stderr));
}

/// Under `-fork=1 -ignore_crashes=1` a target crashes on the same bug again and again: one trace
/// per failure signature (kind and call trace) and directory, not one per crash.
#[test]
fn fuzzing_keeps_one_trace_per_failure_signature() {
    let dir = tempfile::tempdir().unwrap();
    let mut session = Session::new("mutex_unlock_free", "buggy").unwrap();
    let mut rng = SplitMix64::new(5);
    let mut signatures = std::collections::HashSet::new();
    let mut crashes = 0;
    for _ in 0..50_000 {
        let bytes: Vec<u8> = (0..16).map(|_| rng.next_u64() as u8).collect();
        let input = FuzzInput::decode(&bytes);
        let Some(failure) = session.run(&input) else {
            continue;
        };
        crashes += 1;
        let new = signatures.insert((failure.kind, failure.call_trace.clone()));
        let saved = session.save_failure_trace(&input, &failure, dir.path()).unwrap();
        assert_eq!(saved.existed, !new, "crash {crashes}: {}", saved.path.display());
        let trace = kgrace::Trace::load(&saved.path).unwrap();
        assert_eq!(trace.failure.unwrap().kind, failure.kind);
        if crashes == 40 {
            break;
        }
    }
    assert_eq!(crashes, 40, "too few failing schedules");
    assert!(signatures.len() < crashes, "every crash had its own signature");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), signatures.len());
}
