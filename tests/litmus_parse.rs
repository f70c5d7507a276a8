//! The litmus front end against the external LKMM test suite in `../shared/litmus` (317 tests
//! with herd7's verdicts), when that folder is present: parse and check, never panic.

use std::path::{Path, PathBuf};

use kgrace::litmus::{self, Program};

fn corpus_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/litmus");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "note: {} not found; skipping the litmus corpus tests",
            dir.display()
        );
        None
    }
}

fn litmus_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "litmus") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn load(path: &Path) -> Result<Program, litmus::ParseError> {
    let src = std::fs::read_to_string(path).expect("readable litmus file");
    litmus::load(&src)
}

#[test]
fn corpus_parses_and_checks() {
    let Some(dir) = corpus_dir() else { return };
    let files = litmus_files(&dir);
    assert_eq!(files.len(), 317, "the corpus has 317 tests");
    let mut ok = 0;
    let mut failed = Vec::new();
    for f in &files {
        match load(f) {
            Ok(_) => ok += 1,
            Err(e) => failed.push(format!("{}: {e}", f.strip_prefix(&dir).unwrap_or(f).display())),
        }
    }
    eprintln!("{ok} of {} litmus tests parse and check", files.len());
    for f in &failed {
        eprintln!("  unsupported or rejected: {f}");
    }
    assert!(ok >= 300, "only {ok} of {} parse and check", files.len());
}

/// Every file's `Result:` comment survives in the doc, and its verdict agrees with EXPECTED.tsv
/// (a cheap check that the header and comments are read correctly).
#[test]
fn corpus_result_comments_match_expected() {
    let Some(dir) = corpus_dir() else { return };
    let tsv = std::fs::read_to_string(dir.join("EXPECTED.tsv")).expect("EXPECTED.tsv");
    let mut checked = 0;
    for line in tsv.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let (path, expected) = (cols[0], cols[1]);
        let Ok(p) = load(&dir.join(path)) else { continue };
        let Some(result) = p.test.result_comment() else {
            continue;
        };
        let word = expected.split_whitespace().next().unwrap_or("");
        assert!(
            result.contains(word),
            "{path}: comment says `{result}`, EXPECTED.tsv `{expected}`"
        );
        checked += 1;
    }
    assert!(
        checked >= 250,
        "only {checked} Result: comments found in test docs"
    );
}

/// The parser and checker return errors, never panic, on every prefix of some real files and
/// on single-byte mutations of every file.
#[test]
fn no_panic_on_truncated_or_mutated_files() {
    let Some(dir) = corpus_dir() else { return };
    let files = litmus_files(&dir);
    let picks = [
        "kernel/Documentation/litmus-tests/rcu/RCU+sync+free.litmus",
        "kernel/Documentation/litmus-tests/locking/RM-broken.litmus",
        "paulmckrcu-litmus/manual/kernel/C-llist-add-atomic.litmus",
        "paulmckrcu-litmus/auto/C-LB-Lwr+R-D.litmus",
        "paulmckrcu-litmus/luc/RelAcq/C-2+2W+pooncereleases.litmus",
        "paulmckrcu-litmus/manual/kernel/C-viro-2020.09.29a.litmus",
    ];
    for pick in picks {
        let src = std::fs::read_to_string(dir.join(pick)).expect("pick exists");
        for (i, _) in src.char_indices() {
            let _ = litmus::load(&src[..i]);
        }
    }
    // Deterministic pseudo-random single-byte edits: deletions, and replacements by bytes that
    // matter to the grammar.
    const SPECIAL: &[u8] = b"(){}[];,*&=~/\\:-+0123456789 \nPrx";
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for f in &files {
        let src = std::fs::read(f).expect("readable");
        for _ in 0..40 {
            let mut m = src.clone();
            if m.is_empty() {
                break;
            }
            let at = (next() as usize) % m.len();
            if next() % 3 == 0 {
                m.remove(at);
            } else {
                m[at] = SPECIAL[(next() as usize) % SPECIAL.len()];
            }
            let text = String::from_utf8_lossy(&m);
            let _ = litmus::load(&text);
        }
    }
    // Hostile nesting is an error, not a stack overflow.
    let deep = format!(
        "C deep\n{{}}\nP0(int *x)\n{{\n int r0;\n r0 = {}1{};\n}}\nexists (0:r0=1)\n",
        "(".repeat(100_000),
        ")".repeat(100_000)
    );
    assert!(litmus::load(&deep).is_err());
    let deep_cond = format!(
        "C deep\n{{}}\nP0(int *x)\n{{\n}}\nexists {}x=1{}\n",
        "(".repeat(100_000),
        ")".repeat(100_000)
    );
    assert!(litmus::load(&deep_cond).is_err());
    let deep_not = format!(
        "C deep\n{{}}\nP0(int *x)\n{{\n}}\nexists {}x=1\n",
        "~".repeat(100_000)
    );
    assert!(litmus::load(&deep_not).is_err());
    let deep_if = format!(
        "C deep\n{{}}\nP0(int *x)\n{{\n{}\n}}\nexists (x=1)\n",
        "if (1) ".repeat(100_000)
    );
    assert!(litmus::load(&deep_if).is_err());
}

fn permutations(n: usize) -> Vec<Vec<usize>> {
    if n == 0 {
        return vec![vec![]];
    }
    let mut out = Vec::new();
    for p in permutations(n - 1) {
        for at in 0..=p.len() {
            let mut q = p.clone();
            q.insert(at, n - 1);
            out.push(q);
        }
    }
    out
}

/// Running the processes one after another is a sequentially consistent execution, which LKMM
/// allows: so no such run may satisfy the `exists` of a test whose verdict is Never, and every
/// run must satisfy the proposition of an Always test. This checks parser, checker, interpreter
/// and evaluator together against herd7's verdicts. Tests whose verdict is not a plain
/// Never/Sometimes/Always, that expect a data race (the verdict is then excused), or whose run
/// blocks (a lock left held, a grace period in its own reader) are skipped.
#[test]
fn sequential_runs_agree_with_herd7_verdicts() {
    let Some(dir) = corpus_dir() else { return };
    let tsv = std::fs::read_to_string(dir.join("EXPECTED.tsv")).expect("EXPECTED.tsv");
    let (mut checked, mut runs) = (0, 0);
    for line in tsv.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let (path, expected, flag) = (cols[0], cols[1], cols[3]);
        if flag.contains("DATARACE") || !matches!(expected, "Never" | "Always" | "Sometimes") {
            continue;
        }
        let p = load(&dir.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
        let n = p.procs.len();
        let orders = if n <= 5 {
            permutations(n)
        } else {
            vec![(0..n).collect(), (0..n).rev().collect()]
        };
        let observed = p.observed_locations();
        for order in orders {
            let (st, m) = litmus::SeqMachine::run(&p, &order);
            if m.deadlocked {
                continue;
            }
            runs += 1;
            let outcome = p
                .judge(std::slice::from_ref(&st.project(&observed)))
                .unwrap_or_else(|e| panic!("{path}: {e}"));
            match expected {
                "Never" => assert!(
                    !outcome.validated || outcome.no_states(),
                    "{path} is Never but the sequential order {order:?} gives {st}"
                ),
                "Always" => assert!(
                    outcome.positive == 1 || outcome.no_states(),
                    "{path} is Always but the sequential order {order:?} gives {st}"
                ),
                _ => {}
            }
        }
        checked += 1;
    }
    eprintln!("{checked} tests, {runs} sequential runs agree with herd7's verdicts");
    assert!(checked >= 250, "only {checked} tests checked");
}
