//! Many litmus tests at once, against herd7's verdicts: what `kgrace litmus` prints.
//!
//! A test's result is herd7's in spirit: the observation (Never / Sometimes / Always), the
//! distinct final states with counts, and the data-race flag. With an expected table
//! (`EXPECTED.tsv`: path, verdict, source, flag, ...) each result is compared the way the
//! kernel's `judgelitmus.sh` compares herd7's output with a test's `Result:` comment: the
//! observation must match, and the data-race flag must match; when herd7 flags a data race the
//! observation is not compared (LKMM's verdict on a racy test is undefined behaviour).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::check::load;
use super::run::{run, Options, Report, RunError};

/// herd7's verdict for a test, from the expected table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expected {
    /// `Never`, `Sometimes`, `Always`, `DEADLOCK` (no execution at all) or `Flag ...`.
    pub verdict: String,
    /// herd7 reports `Flag data-race`.
    pub data_race: bool,
}

/// Reads `EXPECTED.tsv`: tab-separated, a header line, columns `path`, `expected`, `source`,
/// `flag`; paths relative to the file's folder.
pub fn read_expected(path: &Path) -> Result<BTreeMap<PathBuf, Expected>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut out = BTreeMap::new();
    for (n, line) in text.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        if cols.len() < 2 {
            return Err(format!(
                "{}:{}: expected at least two tab-separated columns (path, verdict)",
                path.display(),
                n + 1
            ));
        }
        let file = normalize(&base.join(cols[0]));
        out.insert(
            file,
            Expected {
                verdict: cols[1].trim().to_string(),
                data_race: cols.get(3).is_some_and(|f| f.contains("DATARACE")),
            },
        );
    }
    Ok(out)
}

/// A path with `.` and `..` resolved lexically, so that table and command-line paths compare.
fn normalize(p: &Path) -> PathBuf {
    let abs = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(p)
    };
    let mut out = PathBuf::new();
    for c in abs.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            c => out.push(c),
        }
    }
    out
}

/// The `.litmus` files under `paths` (files as given, folders searched recursively), sorted.
pub fn collect_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut stack = vec![p.clone()];
            while let Some(d) = stack.pop() {
                let entries =
                    std::fs::read_dir(&d).map_err(|e| format!("cannot read {}: {e}", d.display()))?;
                for e in entries.flatten() {
                    let q = e.path();
                    if q.is_dir() {
                        stack.push(q);
                    } else if q.extension().is_some_and(|x| x == "litmus") {
                        out.push(q);
                    }
                }
            }
        } else if p.is_file() {
            out.push(p.clone());
        } else {
            return Err(format!("{}: no such file or folder", p.display()));
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// The result of one test.
#[derive(Clone, Debug)]
pub enum TestResult {
    /// Explored: the report.
    Ran(Box<Report>),
    /// The test uses a construct kgrace does not model, or its final clause cannot be judged.
    Unsupported(String),
    /// The file could not be read or parsed.
    Error(String),
}

/// How a result compares with herd7's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Agreement {
    /// Same observation (or herd7 flags a race and so does kgrace), same data-race flag.
    Agree,
    /// Different.
    Disagree,
    /// kgrace observed an outcome herd7 says is never allowed: a bug in the model, whatever
    /// else agrees.
    ForbiddenObserved,
    /// Not run (unsupported construct or unreadable file).
    Unsupported,
    /// The space was larger than the bound: what was seen is not a verdict.
    Bounded,
    /// No expected verdict for the file.
    NoExpectation,
}

impl Agreement {
    /// The word the table prints.
    pub fn word(self) -> &'static str {
        match self {
            Agreement::Agree => "agree",
            Agreement::Disagree => "DISAGREE",
            Agreement::ForbiddenObserved => "FORBIDDEN OBSERVED",
            Agreement::Unsupported => "unsupported",
            Agreement::Bounded => "bounded",
            Agreement::NoExpectation => "-",
        }
    }
}

/// kgrace's verdict word for a report: herd7's observation, or `DEADLOCK` when no execution
/// has a final state.
pub fn verdict_word(r: &Report) -> String {
    if r.outcome.no_states() {
        "DEADLOCK".to_string()
    } else {
        r.outcome.observation.to_string()
    }
}

/// Compares a result with herd7's verdict.
pub fn compare(result: &TestResult, expected: Option<&Expected>) -> Agreement {
    let r = match result {
        TestResult::Ran(r) => r,
        _ => return Agreement::Unsupported,
    };
    let Some(e) = expected else {
        return Agreement::NoExpectation;
    };
    // A forbidden outcome seen is a bug even when the exploration was cut short.
    if e.verdict == "Never" && !e.data_race && r.outcome.positive > 0 {
        return Agreement::ForbiddenObserved;
    }
    if !r.is_verdict() {
        return Agreement::Bounded;
    }
    if e.data_race != r.data_race {
        return Agreement::Disagree;
    }
    if e.data_race {
        // judgelitmus.sh: a racy test's observation is not compared.
        return Agreement::Agree;
    }
    if e.verdict.starts_with("Flag") {
        // `Flag srcu-bad-nesting`: herd7 raises the flag; the observation is not given.
        return Agreement::Unsupported;
    }
    if verdict_word(r) == e.verdict {
        Agreement::Agree
    } else {
        Agreement::Disagree
    }
}

/// The largest litmus file read: the longest test of the LKMM suites is a few kilobytes.
pub const MAX_LITMUS_BYTES: u64 = 1 << 20;

/// The text of a litmus file, read no further than [`MAX_LITMUS_BYTES`].
fn read_bounded(path: &Path) -> Result<String, String> {
    use std::io::Read;
    let f = std::fs::File::open(path).map_err(|e| format!("cannot read: {e}"))?;
    let mut buf = Vec::new();
    f.take(MAX_LITMUS_BYTES + 1)
        .read_to_end(&mut buf)
        .map_err(|e| format!("cannot read: {e}"))?;
    if buf.len() as u64 > MAX_LITMUS_BYTES {
        return Err(format!(
            "larger than {} KiB: not a litmus test",
            MAX_LITMUS_BYTES / 1024
        ));
    }
    String::from_utf8(buf).map_err(|_| "not UTF-8 text: not a litmus test".to_string())
}

/// Runs one file.
pub fn run_file(path: &Path, opts: Options) -> TestResult {
    let text = match read_bounded(path) {
        Ok(t) => t,
        Err(e) => return TestResult::Error(e),
    };
    let program = match load(&text) {
        Ok(p) => p,
        Err(e) => {
            let msg = e.to_string();
            return if msg.contains("unsupported") {
                TestResult::Unsupported(msg)
            } else {
                TestResult::Error(msg)
            };
        }
    };
    match run(&program, opts) {
        Ok(r) => TestResult::Ran(Box::new(r)),
        Err(RunError::Unsupported(what)) => TestResult::Unsupported(what),
        Err(e @ RunError::Missing(_)) => TestResult::Unsupported(e.to_string()),
    }
}

/// Run `files` on `jobs` worker threads (each test is explored on one thread, as
/// [`run_file`] does it), yielding every file's result and its seconds in the order of `files`,
/// each as soon as it and every file before it are done. The results do not depend on `jobs`.
pub fn run_files(files: &[PathBuf], opts: Options, jobs: usize) -> impl Iterator<Item = (TestResult, f64)> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{mpsc, Arc};
    let files: Arc<Vec<PathBuf>> = Arc::new(files.to_vec());
    let next = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = mpsc::channel();
    for _ in 0..jobs.clamp(1, files.len().max(1)) {
        let (files, next, tx) = (files.clone(), next.clone(), tx.clone());
        std::thread::spawn(move || loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(f) = files.get(i) else { break };
            let t0 = std::time::Instant::now();
            let r = run_file(f, opts);
            if tx.send((i, r, t0.elapsed().as_secs_f64())).is_err() {
                break;
            }
        });
    }
    drop(tx);
    let mut pending = BTreeMap::new();
    let mut want = 0;
    std::iter::from_fn(move || loop {
        if let Some(r) = pending.remove(&want) {
            want += 1;
            return Some(r);
        }
        let (i, r, secs) = rx.recv().ok()?;
        pending.insert(i, (r, secs));
    })
}

/// One test's line in the full output, herd7-style; `name` (the file's) stands in for a test
/// without a name.
pub fn render_result(name: &str, result: &TestResult) -> String {
    let mut out = String::new();
    match result {
        TestResult::Ran(r) => {
            // herd7 names a test by its `C` line; the file's name only when that is empty.
            let name = if r.name.is_empty() { name } else { &r.name };
            let _ = writeln!(out, "Test {name}");
            let _ = writeln!(out, "States {}", r.states.len());
            for (s, n) in &r.states {
                let _ = writeln!(out, "{s} ({n} executions)");
            }
            let _ = writeln!(
                out,
                "Observation {name} {} {} {}{}",
                verdict_word(r),
                r.outcome.positive,
                r.outcome.negative,
                if r.outcome.validated { " (Ok)" } else { " (No)" }
            );
            if r.data_race {
                let _ = writeln!(out, "Flag data-race");
            }
            let _ = writeln!(
                out,
                "Executions {}{}{}",
                r.executions,
                if r.exhausted {
                    ", all explored"
                } else if r.settled {
                    ", BOUND REACHED, verdict settled: both kinds of state seen, race flag final"
                } else {
                    ", BOUND REACHED: not a verdict"
                },
                if r.deadlocked > 0 {
                    format!(", {} deadlocked", r.deadlocked)
                } else {
                    String::new()
                }
            );
            if r.witness.is_some() && !r.witness_moves.is_empty() {
                let moves: Vec<String> = r.witness_moves.iter().map(|m| m.to_string()).collect();
                let _ = writeln!(
                    out,
                    "Witness in a reordered variant (LKMM allows it; the machine alone cannot): {}",
                    moves.join(", ")
                );
            }
            if let Some(f) = &r.other_failure {
                let _ = writeln!(
                    out,
                    "Failure in some execution: {}",
                    f.message.lines().next().unwrap_or("")
                );
            }
        }
        TestResult::Unsupported(why) => {
            let _ = writeln!(out, "Test {name}: {why}");
        }
        TestResult::Error(why) => {
            let _ = writeln!(out, "Test {name}: error: {why}");
        }
    }
    out
}

/// The folder a test is summarized under: its folder relative to the expected table's (or the
/// path given), so `kernel/tools/memory-model/litmus-tests` and `paulmckrcu-litmus/manual`.
pub fn folder_of(file: &Path, base: Option<&Path>) -> String {
    let dir = file.parent().unwrap_or(Path::new(""));
    let rel = base.and_then(|b| dir.strip_prefix(b).ok()).unwrap_or(dir);
    let parts: Vec<_> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    // paulmckrcu-litmus/auto/<generated subfolders>: one row for the generated set.
    let keep = if parts.first().is_some_and(|p| p == "paulmckrcu-litmus") {
        2
    } else {
        parts.len()
    };
    parts[..keep.min(parts.len())].join("/")
}

/// The summary of a suite run, per folder.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    /// Per folder: counts per agreement.
    pub folders: BTreeMap<String, BTreeMap<Agreement, usize>>,
}

impl Summary {
    /// Count one test.
    pub fn add(&mut self, folder: &str, a: Agreement) {
        *self
            .folders
            .entry(folder.to_string())
            .or_default()
            .entry(a)
            .or_default() += 1;
    }

    /// Totals over all folders.
    pub fn total(&self) -> BTreeMap<Agreement, usize> {
        let mut t = BTreeMap::new();
        for f in self.folders.values() {
            for (a, n) in f {
                *t.entry(*a).or_default() += n;
            }
        }
        t
    }

    /// The per-folder table.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<52} {:>6} {:>6} {:>9} {:>9} {:>11} {:>7} {:>9}",
            "folder", "tests", "agree", "disagree", "FORBIDDEN", "unsupported", "bounded", "agreement"
        );
        let row = |out: &mut String, name: &str, c: &BTreeMap<Agreement, usize>| {
            let get = |a| c.get(&a).copied().unwrap_or(0);
            let tests: usize = c.values().sum();
            let judged = get(Agreement::Agree) + get(Agreement::Disagree) + get(Agreement::ForbiddenObserved);
            let pct = if judged == 0 {
                "-".to_string()
            } else {
                format!("{:.1}%", 100.0 * get(Agreement::Agree) as f64 / judged as f64)
            };
            let _ = writeln!(
                out,
                "{:<52} {:>6} {:>6} {:>9} {:>9} {:>11} {:>7} {:>9}",
                name,
                tests,
                get(Agreement::Agree),
                get(Agreement::Disagree),
                get(Agreement::ForbiddenObserved),
                get(Agreement::Unsupported),
                get(Agreement::Bounded),
                pct
            );
        };
        for (f, c) in &self.folders {
            row(&mut out, f, c);
        }
        row(&mut out, "total", &self.total());
        out
    }
}

/// Whether every verdict agrees: no disagreement and no forbidden outcome observed.
pub fn all_agree(s: &Summary) -> bool {
    let t = s.total();
    t.get(&Agreement::Disagree).copied().unwrap_or(0) == 0
        && t.get(&Agreement::ForbiddenObserved).copied().unwrap_or(0) == 0
}
