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
    let before = std::fs::read(&path).unwrap();
    // The same run again finds the same execution: the same file, left as it was.
    let (_, v2) = run_json(d);
    assert_eq!(v2["trace"].as_str().unwrap(), path);
    assert_eq!(std::fs::read(&path).unwrap(), before);
    assert_eq!(std::fs::read_dir(d).unwrap().count(), 1);
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

/// `kgrace ARGS` run in the directory `cwd`.
fn kgrace_in(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kgrace"))
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap()
}

#[test]
fn run_writes_into_traces_by_default_and_its_hint_works_as_printed() {
    let cwd = tempfile::tempdir().unwrap();
    let o = kgrace_in(cwd.path(), &["run", "mutex_unlock_free", "--seed", "1"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let out = stdout(&o);
    let files: Vec<_> = std::fs::read_dir(cwd.path().join("traces"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(!cwd.path().join("replay").exists(), "a run wrote into replay/");
    // Not on the PATH after the README's set-up: the hint goes through cargo, from the checkout.
    let hint = format!("replay it: cargo run --release -- replay traces/{}", files[0]);
    assert!(out.contains(&hint), "{out}");
}

#[test]
fn a_failure_whose_trace_cannot_be_written_is_still_reported_in_full() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let mut dirs = vec![file.to_str().unwrap().to_string()];
    if cfg!(target_os = "linux") {
        dirs.push("/proc".into());
    }
    for dir in &dirs {
        let o = kgrace(&["run", "mutex_unlock_free", "--seed", "1", "--trace-dir", dir]);
        assert_eq!(o.status.code(), Some(1), "{dir}: {}", stderr(&o));
        let (out, err) = (stdout(&o), stderr(&o));
        assert!(out.contains("FAILED (") && out.contains("BUG: K"), "{dir}: {out}");
        assert_eq!(err.matches("trace was not written").count(), 1, "{dir}: {err}");
        assert!(!err.contains("panicked"), "{err}");
        assert_no_repeated_cause(&err);
    }
    // In the JSON summary too.
    let o = kgrace(&["run", "mutex_unlock_free", "--trace-dir", &dirs[0], "--json"]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert!(
        v["trace"].is_null() && v["trace_error"].as_str().unwrap().contains("not a directory"),
        "{v}"
    );
    assert!(v["failure"]["message"].as_str().unwrap().contains("BUG"), "{v}");
}

/// "File exists (os error 17): File exists (os error 17)": an error and its cause said twice.
fn assert_no_repeated_cause(err: &str) {
    for line in err.lines() {
        let parts: Vec<&str> = line.split(": ").collect();
        for w in parts.windows(2) {
            assert_ne!(w[0], w[1], "said twice: {line}");
        }
    }
}

#[test]
fn os_and_json_errors_are_said_once() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.json");
    let o = kgrace(&["replay", missing.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(stderr(&o).matches("os error 2").count(), 1, "{}", stderr(&o));
    let not_utf8 = dir.path().join("latin1.json");
    std::fs::write(&not_utf8, b"{\"format\": \"kgrace-trace\xe9\"}").unwrap();
    let o = kgrace(&["replay", not_utf8.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert_no_repeated_cause(&stderr(&o));
    let o = kgrace(&["replay", dir.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert_no_repeated_cause(&stderr(&o));
}

#[test]
fn endless_or_huge_inputs_exit_2_without_reading_them_whole() {
    for dev in ["/dev/zero", "/dev/urandom"] {
        if !Path::new(dev).exists() {
            continue;
        }
        let o = kgrace(&["replay", dev]);
        assert_eq!(o.status.code(), Some(2), "{dev}: {}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    }
    // Past the limit, as a named trace: refused after reading at most the limit.
    let dir = tempfile::tempdir().unwrap();
    let huge = dir.path().join("huge.json");
    let f = std::fs::File::create(&huge).unwrap();
    f.set_len(kgrace::trace::MAX_TRACE_BYTES + 1).unwrap();
    let o = kgrace(&["replay", huge.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("larger than 32 MiB"), "{}", stderr(&o));
    #[cfg(unix)]
    {
        let zero = dir.path().join("zero.json");
        std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
        let o = kgrace(&["replay", zero.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(2));
        assert!(stderr(&o).contains("larger than 32 MiB"), "{}", stderr(&o));
    }
}

#[test]
fn nonsense_flags_exit_2() {
    for (args, want) in [
        (&["run", "--all", "--variant", "fixed"][..], "--variant"),
        (
            &["run", "mutex_unlock_free", "--iterations", "0"],
            "at least 1 execution",
        ),
        (&["run", "mutex_unlock_free", "--time", "0"], "more than 0"),
        (&["run", "mutex_unlock_free", "--time", "5x"], "unknown unit"),
        (&["run", "mutex_unlock_free", "--time=-1"], "more than 0"),
        (&["run", "mutex_unlock_free", "--time", "soon"], "unknown unit"),
    ] {
        let o = kgrace(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(stderr(&o).contains(want), "{args:?}: {}", stderr(&o));
    }
}

#[test]
fn time_takes_fractions_and_units() {
    // The posted variant fails within its first executions, so none of these runs for long.
    for t in ["0.5", "90s", "5m", "1h", "250ms"] {
        let dir = tempfile::tempdir().unwrap();
        let o = kgrace(&[
            "run",
            "mutex_unlock_free",
            "--time",
            t,
            "--trace-dir",
            dir.path().to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(1), "--time {t}: {}", stderr(&o));
    }
}

#[test]
fn run_all_writes_traces_only_when_asked() {
    let cwd = tempfile::tempdir().unwrap();
    let all = ["run", "--all", "--memory", "sc", "--iterations", "50"];
    let o = kgrace_in(cwd.path(), &all);
    assert!(matches!(o.status.code(), Some(0 | 1)), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_dir(cwd.path()).unwrap().count(),
        0,
        "run --all wrote files"
    );
    let mut with_dir = all.to_vec();
    with_dir.extend(["--trace-dir", "kept"]);
    let o = kgrace_in(cwd.path(), &with_dir);
    assert!(matches!(o.status.code(), Some(0 | 1)), "{}", stderr(&o));
    assert!(std::fs::read_dir(cwd.path().join("kept")).unwrap().count() > 0);
}

/// A copy of the checked-in trace, changed by `edit`, in `dir`.
fn edited_trace(dir: &Path, name: &str, edit: impl FnOnce(&mut kgrace::Trace)) -> String {
    let mut t = kgrace::Trace::load(Path::new(&a_replay_trace())).unwrap();
    edit(&mut t);
    let p = dir.join(name);
    std::fs::write(&p, serde_json::to_string(&t).unwrap()).unwrap();
    p.to_string_lossy().into_owned()
}

#[test]
fn a_divergence_is_said_once_with_where_and_how() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            edited_trace(dir.path(), "cpu9.json", |t| {
                let i = t.decisions.len() / 2;
                t.decisions[i] = kgrace::sched::Decision::Cpu(9);
            }),
            "DIVERGED: the run left the trace at decision",
        ),
        (
            edited_trace(dir.path(), "longer.json", |t| {
                t.decisions.extend([kgrace::sched::Decision::Cpu(0); 3])
            }),
            "but the trace has 3 more decisions after it",
        ),
        (
            edited_trace(dir.path(), "clean.json", |t| t.failure = None),
            "DIVERGED: the trace records an execution that finishes cleanly, but the run failed",
        ),
    ];
    for (path, want) in cases {
        let o = kgrace(&["replay", &path]);
        assert_eq!(o.status.code(), Some(3), "{path}: {}", stderr(&o));
        let out = stdout(&o);
        assert!(out.contains(want), "{path}: {out}");
        assert_eq!(out.matches("DIVERGED").count(), 1, "{out}");
        assert!(!out.contains("no failure"), "{path}: {out}");
        assert!(!out.contains("reproduced"), "{path}: {out}");
    }
}

#[test]
fn list_states_every_variants_expected_verdict() {
    let o = kgrace(&["list"]);
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    assert!(out.contains("buggy") && out.contains("fails: use-after-free | data-race"));
    assert!(out.contains("fixed") && out.contains("passes"));
    // The summaries start in one column, however long a variant's expected verdict.
    let columns: std::collections::BTreeSet<usize> = out
        .lines()
        .filter_map(|l| {
            // "    NAME  VERDICT  SUMMARY": the verdict is the token after the name.
            let name = l.strip_prefix("    ")?.split(' ').next()?;
            let after_name = 4 + name.len();
            let verdict = after_name + l[after_name..].len() - l[after_name..].trim_start().len();
            if !(l[verdict..].starts_with("passes") || l[verdict..].starts_with("fails: ")) {
                return None;
            }
            let gap = verdict + l[verdict..].find("  ")?;
            Some(gap + l[gap..].len() - l[gap..].trim_start().len())
        })
        .collect();
    assert_eq!(columns.len(), 1, "summary columns {columns:?}:\n{out}");
}

#[test]
fn a_closed_stdout_ends_the_output_not_in_a_panic() {
    // `kgrace replay T | true`: the reader is gone before the first line.
    let mut child = Command::new(env!("CARGO_BIN_EXE_kgrace"))
        .args(["replay", &a_replay_trace()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
}
