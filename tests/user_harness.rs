//! A harness of your own, outside `src/harness/`: `examples/seqlock.rs`. Its variants get their
//! expected verdicts in-process (the file is included here for its registry), and its binary,
//! whose `main` is one call of `kgrace::cli::main`, lists, runs, replays and minimizes its traces,
//! which the built-in `kgrace` refuses.
//!
//! The example's binary: cargo gives integration tests the path of the package's binaries
//! (`CARGO_BIN_EXE_<name>`) but not of its examples, and builds examples for `cargo test` but
//! not for `cargo test --test user_harness`. So the test builds it itself, once, with the cargo
//! that runs the test (`$CARGO`), into the target directory and profile of this test binary
//! (`<target>/<profile>/deps/user_harness-*`: the example lands in
//! `<target>/<profile>/examples/seqlock`). When `cargo test` has built it already, that build is
//! a freshness check.

#[allow(dead_code)] // its `main` is the example binary's
#[path = "../examples/seqlock.rs"]
mod seqlock;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use kgrace::fuzz::{FuzzInput, Session};
use kgrace::harness::Harness;
use kgrace::sched::{SchedulerSpec, SplitMix64};
use kgrace::{Budget, Explorer, MemoryModel, Trace, Verdict};

fn harness() -> &'static Harness {
    &seqlock::HARNESSES[0]
}

#[test]
fn every_variant_gets_its_expected_verdict_under_both_memory_models() {
    let h = harness();
    for v in h.variants {
        for m in MemoryModel::ALL {
            let r = Explorer::for_variant(h, v)
                .memory(m)
                .budget(Budget::Executions(10_000))
                .run();
            assert!(
                v.expected.matches(r.failure.as_ref().map(|f| f.kind)),
                "{} [{}] under {m}: expected {}, got {:?}",
                h.name,
                v.name,
                v.expected,
                r.failure.map(|f| f.message)
            );
            if let Some(t) = r.trace {
                // The trace names the user's harness: the built-in registry does not have it.
                assert_eq!(t.harness, "seqlock");
                assert!(t.replay().is_err());
                let replayed = t.replay_in(seqlock::HARNESSES).unwrap();
                assert_eq!(t.verdict(&replayed), Verdict::Reproduced);
            }
        }
    }
}

#[test]
fn fixed_passes_an_exhaustive_search_that_finds_the_buggy_reader() {
    let h = harness();
    for m in MemoryModel::ALL {
        let dfs = |v: &str| {
            Explorer::for_variant(h, h.variant(v).unwrap())
                .memory(m)
                .scheduler(SchedulerSpec::Dfs { preemptions: Some(3) })
                .budget(Budget::Executions(1_000_000))
                .run()
        };
        let fixed = dfs("fixed");
        assert!(fixed.failure.is_none() && fixed.exhausted, "fixed under {m}");
        assert!(dfs("buggy").failure.is_some(), "buggy under {m}");
    }
}

#[test]
fn a_fuzz_session_on_the_user_harness_finds_the_torn_read_and_its_trace_replays() {
    let h = harness();
    let mut s = Session::for_variant(h, h.variant("buggy").unwrap(), MemoryModel::Sc);
    // Random inputs of 8 to 40 bytes, the lengths libFuzzer starts from.
    let mut rng = SplitMix64::new(1);
    let found = (0..20_000).find_map(|_| {
        let len = 8 + rng.below(33);
        let bytes: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        let input = FuzzInput::decode(&bytes);
        s.run(&input).map(|_| input)
    });
    let input = found.expect("20,000 random schedules include a torn snapshot");
    let t = s.trace(&input);
    assert_eq!(t.harness, "seqlock");
    let r = t.replay_in(seqlock::HARNESSES).unwrap();
    assert_eq!(t.verdict(&r), Verdict::Reproduced);
    let m = kgrace::minimize::minimize_in(seqlock::HARNESSES, &t).unwrap();
    assert!(m.after <= m.before);
}

#[test]
fn the_fuzz_target_pattern_runs_the_user_harness() {
    // The passing variant: a failing one would abort the process, as libFuzzer wants.
    std::env::set_var("KGRACE_FUZZ_VARIANT", "fixed");
    for b in 0u8..64 {
        let input = FuzzInput::decode(&[b, 255 - b, b, 1, 2, 3, b, 9, 0, 20]);
        kgrace::fuzz::run_target_in(seqlock::HARNESSES, "seqlock", &input);
    }
}

/// The example's binary, built once.
fn example() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let exe = std::env::current_exe().unwrap();
        let profile_dir = exe.parent().and_then(Path::parent).unwrap().to_path_buf();
        let target_dir = profile_dir.parent().unwrap();
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut build = Command::new(cargo);
        build
            .args(["build", "--quiet", "--example", "seqlock", "--target-dir"])
            .arg(target_dir)
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            build.arg("--release");
        }
        let out = build.output().unwrap();
        assert!(
            out.status.success(),
            "cargo build --example seqlock: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let bin = profile_dir
            .join("examples")
            .join(format!("seqlock{}", std::env::consts::EXE_SUFFIX));
        assert!(bin.exists(), "{} after the build", bin.display());
        bin
    })
}

fn run(bin: &Path, args: &[&str]) -> Output {
    Command::new(bin).args(args).output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn the_example_binary_lists_runs_replays_and_minimizes_its_harness() {
    let bin = example();
    let list = run(bin, &["list"]);
    assert_eq!(list.status.code(), Some(0), "{}", text(&list));
    let listed = text(&list);
    assert!(
        listed.starts_with("seqlock  (example: u64_stats_sync"),
        "{listed}"
    );
    for v in ["buggy", "fixed", "no-rmb"] {
        assert!(
            listed.lines().any(|l| l.trim_start().starts_with(v)),
            "{v} in {listed}"
        );
    }
    assert!(
        !listed.contains("mutex_unlock_free"),
        "only its own harnesses: {listed}"
    );

    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let buggy = run(
        bin,
        &[
            "run",
            "seqlock",
            "--variant",
            "buggy",
            "--jobs",
            "1",
            "--trace-dir",
            d,
        ],
    );
    assert_eq!(buggy.status.code(), Some(1), "{}", text(&buggy));
    assert!(text(&buggy).contains("a torn snapshot"), "{}", text(&buggy));
    let traces: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(traces.len(), 1, "one trace written: {traces:?}");
    let trace = traces[0].to_str().unwrap();
    // `run` says how to replay it: through this binary, by its path.
    assert!(
        text(&buggy).contains(&format!("replay it: {} replay {trace}", bin.display())),
        "{}",
        text(&buggy)
    );
    assert_eq!(Trace::load(&traces[0]).unwrap().harness, "seqlock");

    let replay = run(bin, &["replay", trace]);
    assert_eq!(replay.status.code(), Some(1), "{}", text(&replay));
    assert!(text(&replay).contains("reproduced"), "{}", text(&replay));

    let out = dir.path().join("min.json");
    let min = run(bin, &["minimize", trace, "-o", out.to_str().unwrap()]);
    assert_eq!(min.status.code(), Some(0), "{}", text(&min));
    assert_eq!(
        run(bin, &["replay", out.to_str().unwrap()]).status.code(),
        Some(1)
    );

    let fixed = run(
        bin,
        &[
            "run",
            "seqlock",
            "--variant",
            "fixed",
            "--jobs",
            "1",
            "--trace-dir",
            d,
        ],
    );
    assert_eq!(fixed.status.code(), Some(0), "{}", text(&fixed));
    assert!(text(&fixed).contains("passed"), "{}", text(&fixed));

    // The built-in binary has no `seqlock`: a usage error naming the harness, no panic.
    let builtin = run(Path::new(env!("CARGO_BIN_EXE_kgrace")), &["replay", trace]);
    assert_eq!(builtin.status.code(), Some(2), "{}", text(&builtin));
    let said = text(&builtin);
    assert!(
        said.contains("harness `seqlock`") && said.contains("kgrace::cli::main"),
        "{said}"
    );
    assert!(!said.contains("panicked"), "{said}");
    // And the other way round: the example binary has no built-in harness.
    let other = run(bin, &["run", "mutex_unlock_free", "--iterations", "1"]);
    assert_eq!(other.status.code(), Some(2), "{}", text(&other));
    assert!(text(&other).contains("harnesses: seqlock"), "{}", text(&other));
}

#[test]
fn the_example_binary_checks_every_verdict_with_run_all() {
    let all = run(example(), &["run", "--all", "--jobs", "1"]);
    let said = text(&all);
    assert_eq!(all.status.code(), Some(0), "{said}");
    assert!(said.contains("all verdicts as expected"), "{said}");
    assert!(
        said.contains("no-rmb") && said.contains("(variant pins the other)"),
        "{said}"
    );
}

#[test]
fn the_example_binary_replays_a_raw_fuzz_input_of_its_harness() {
    let dir = tempfile::tempdir().unwrap();
    // cargo-fuzz keeps a target's artifacts in `fuzz/artifacts/<target>/`: the directory names
    // the harness, looked up in the example's registry.
    let artifacts = dir.path().join("seqlock");
    std::fs::create_dir(&artifacts).unwrap();
    let input = artifacts.join("crash-0");
    std::fs::write(&input, [0u8; 10]).unwrap();
    let r = run(example(), &["replay", input.to_str().unwrap()]);
    assert!(matches!(r.status.code(), Some(0 | 1)), "{}", text(&r));
    assert!(text(&r).starts_with("seqlock [buggy]"), "{}", text(&r));
}
