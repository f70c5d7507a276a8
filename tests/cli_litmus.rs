//! `kgrace litmus` as a user runs it: verdicts, exit codes, witnesses, bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn kgrace(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kgrace"))
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A fresh directory with the repository's `litmus/` folder copied in.
fn workdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kgrace-cli-litmus-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("litmus");
    let dst = dir.join("litmus/notifier_partial_init");
    std::fs::create_dir_all(&dst).unwrap();
    for e in std::fs::read_dir(src.join("notifier_partial_init")).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, dst.join(p.file_name().unwrap())).unwrap();
    }
    std::fs::copy(src.join("EXPECTED.tsv"), dir.join("litmus/EXPECTED.tsv")).unwrap();
    dir
}

#[test]
fn agreement_exits_0_and_a_disagreement_exits_1() {
    let dir = workdir("agree");
    let o = kgrace(&dir, &["litmus", "litmus", "--expected", "litmus/EXPECTED.tsv"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("100.0%"), "{}", text(&o));
    // The same tests against a table that says T1's outcome is forbidden.
    let table = std::fs::read_to_string(dir.join("litmus/EXPECTED.tsv")).unwrap();
    let wrong = table.replacen("deref-nodep.litmus\tSometimes", "deref-nodep.litmus\tNever", 1);
    std::fs::write(dir.join("litmus/WRONG.tsv"), wrong).unwrap();
    let o = kgrace(&dir, &["litmus", "litmus", "--expected", "litmus/WRONG.tsv"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("FORBIDDEN OBSERVED"), "{}", text(&o));
}

#[test]
fn one_test_prints_herd7s_verdict_and_writes_a_witness_that_replays() {
    let dir = workdir("witness");
    let o = kgrace(
        &dir,
        &[
            "litmus",
            "litmus/notifier_partial_init/T1-MP+onceassign+deref-nodep.litmus",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = text(&o);
    assert!(
        out.contains("Observation T1-MP+onceassign+deref-nodep Sometimes 1 3 (Ok)"),
        "{out}"
    );
    let line = out
        .lines()
        .find(|l| l.starts_with("witness of the outcome: "))
        .expect(&out);
    let path = line.trim_start_matches("witness of the outcome: ");
    assert!(path.starts_with("traces/"), "{path}");
    let o = kgrace(&dir, &["replay", path]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("stale: read the store of step"), "{}", text(&o));
}

#[test]
fn bad_input_exits_2_with_a_message() {
    let dir = workdir("bad");
    let o = kgrace(&dir, &["litmus", "no/such/file.litmus"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("no such file or folder"), "{}", text(&o));
    std::fs::write(
        dir.join("broken.litmus"),
        "C broken\n{\nP0(int *x) { WRITE_ONCE(*x, ; }\n",
    )
    .unwrap();
    let o = kgrace(&dir, &["litmus", "broken.litmus"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("broken"), "{}", text(&o));
    let o = kgrace(&dir, &["litmus", "litmus", "--max-executions", "0"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    // Bounded input: a file far larger than any litmus test is refused without being read whole.
    let big = std::fs::File::create(dir.join("huge.litmus")).unwrap();
    big.set_len(64 << 30).unwrap();
    let o = kgrace(&dir, &["litmus", "huge.litmus"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("larger than 1024 KiB"), "{}", text(&o));
    std::fs::remove_file(dir.join("huge.litmus")).unwrap();
}

#[test]
fn the_output_is_the_same_on_any_number_of_jobs() {
    let dir = workdir("jobs");
    let run = |jobs: &str| {
        let o = kgrace(
            &dir,
            &[
                "litmus",
                "litmus",
                "--expected",
                "litmus/EXPECTED.tsv",
                "--jobs",
                jobs,
            ],
        );
        // Everything but the run's time.
        text(&o)
            .lines()
            .filter(|l| !l.contains(" under lkmm"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let one = run("1");
    assert!(one.contains("total"), "{one}");
    assert_eq!(one, run("3"));
}
