//! `kgrace litmus`: herd7's C litmus tests on kgrace's engine, and the agreement with herd7.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Result};
use clap::Args;

use crate::litmus::run::Options;
use crate::litmus::suite::{self, Agreement, Summary, TestResult};
use crate::MemoryModel;

#[derive(Args, Debug)]
pub struct LitmusArgs {
    /// `.litmus` files, or folders searched recursively.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// The memory model the tests run under.
    #[arg(long, default_value = "lkmm")]
    memory: MemoryModel,
    /// herd7's verdicts (`EXPECTED.tsv`: path, verdict, source, flag): print expected against
    /// observed per test and a summary per folder. Exit 1 on any disagreement.
    #[arg(long)]
    expected: Option<PathBuf>,
    /// One JSON object per test, one per line.
    #[arg(long)]
    json: bool,
    /// Where to write a replayable witness trace of each test whose `exists` outcome was
    /// observed (default: `traces/`, ignored by git, when one test runs without --expected).
    #[arg(long)]
    witness_dir: Option<PathBuf>,
    /// Executions per test at most (its reordered variants included); a test whose space is
    /// larger is reported as bounded, not as a verdict.
    #[arg(long, default_value_t = 1_200_000)]
    max_executions: u64,
    /// Tests run at once, each on a thread of its own (default: the number of cores). The
    /// verdicts do not depend on it; the output keeps the order of the files.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1024))]
    jobs: Option<u64>,
}

pub fn litmus(registry: &'static [crate::harness::Harness], args: &LitmusArgs) -> Result<u8> {
    if args.max_executions == 0 {
        bail!("--max-executions must be at least 1");
    }
    let files = suite::collect_files(&args.paths).map_err(anyhow::Error::msg)?;
    if files.is_empty() {
        bail!("no .litmus files under the paths given");
    }
    let expected = match &args.expected {
        Some(p) => Some(suite::read_expected(p).map_err(anyhow::Error::msg)?),
        None => None,
    };
    let base = args
        .expected
        .as_deref()
        .and_then(Path::parent)
        .map(|b| std::fs::canonicalize(b).unwrap_or_else(|_| b.to_path_buf()));
    let opts = Options {
        memory: args.memory,
        max_executions: args.max_executions,
    };
    let start = Instant::now();
    let mut summary = Summary::default();
    let mut unreadable = false;
    let mut notes: Vec<String> = Vec::new();
    let jobs = args.jobs.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        |j| j as usize,
    );
    for (file, (result, secs)) in files.iter().zip(suite::run_files(&files, opts, jobs)) {
        let canon = std::fs::canonicalize(file).unwrap_or_else(|_| file.clone());
        let name = canon
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        if matches!(result, TestResult::Error(_)) {
            unreadable = true;
        }
        let exp = expected.as_ref().and_then(|e| e.get(&canon));
        let agreement = suite::compare(&result, exp);
        let folder = suite::folder_of(&canon, base.as_deref());
        if expected.is_some() {
            summary.add(&folder, agreement);
        }
        if args.json {
            outln!("{}", json_line(file, &result, exp, agreement, secs));
        } else if let Some(exp) = exp.filter(|_| expected.is_some()) {
            let observed = match &result {
                TestResult::Ran(r) => format!(
                    "{}{}{}",
                    suite::verdict_word(r),
                    if r.data_race { " +data-race" } else { "" },
                    if r.exhausted {
                        ""
                    } else if r.settled {
                        " (settled in bound)"
                    } else {
                        " (bound)"
                    }
                ),
                TestResult::Unsupported(why) | TestResult::Error(why) => why.clone(),
            };
            let exp_word = format!(
                "{}{}",
                exp.verdict,
                if exp.data_race { " +data-race" } else { "" }
            );
            outln!(
                "{:<18} {:<26} {:<34} {}",
                agreement.word(),
                exp_word,
                observed,
                file.display()
            );
            if matches!(agreement, Agreement::Disagree | Agreement::ForbiddenObserved) {
                notes.push(suite::render_result(&name, &result));
            }
        } else {
            outln!("{}", suite::render_result(&name, &result).trim_end());
        }
        let witness_dir = args.witness_dir.clone().or_else(|| {
            (files.len() == 1 && expected.is_none()).then(|| PathBuf::from(super::DEFAULT_TRACE_DIR))
        });
        if let (Some(dir), TestResult::Ran(r)) = (&witness_dir, &result) {
            if let Some(w) = &r.witness {
                match save_witness(file, &name, args.memory, r, w.clone(), dir) {
                    Ok(path) => {
                        outln!("witness of the outcome: {}", path.display());
                        outln!("replay it: {}", super::replay_command(registry, &path));
                    }
                    Err(e) => eprintln!("warning: the witness of {name} was not written: {e:#}"),
                }
            }
        }
        if !args.json && expected.is_none() {
            outln!();
        }
    }
    if expected.is_some() && !args.json {
        for n in &notes {
            outln!("\n{n}");
        }
        outln!();
        outln!("{}", summary.render().trim_end());
        outln!(
            "{} tests in {:.1}s under {}",
            files.len(),
            start.elapsed().as_secs_f64(),
            args.memory
        );
    }
    if unreadable {
        return Ok(2);
    }
    Ok(if expected.is_some() && !suite::all_agree(&summary) {
        1
    } else {
        0
    })
}

fn save_witness(
    file: &Path,
    name: &str,
    memory: MemoryModel,
    r: &crate::litmus::run::Report,
    decisions: Vec<crate::sched::Decision>,
    dir: &Path,
) -> Result<PathBuf> {
    let source = std::fs::read_to_string(file)?;
    let trace = crate::Trace::litmus_witness(name, &source, memory, r.witness_moves.clone(), decisions)?;
    Ok(trace.save_new(dir)?.path)
}

fn json_line(
    file: &Path,
    result: &TestResult,
    exp: Option<&suite::Expected>,
    agreement: Agreement,
    secs: f64,
) -> serde_json::Value {
    let mut v = serde_json::json!({
        "path": file.display().to_string(),
        "seconds": secs,
    });
    match result {
        TestResult::Ran(r) => {
            v["verdict"] = suite::verdict_word(r).into();
            v["positive"] = r.outcome.positive.into();
            v["negative"] = r.outcome.negative.into();
            v["data_race"] = r.data_race.into();
            v["executions"] = r.executions.into();
            v["exhausted"] = r.exhausted.into();
            v["settled"] = r.settled.into();
            v["deadlocked"] = r.deadlocked.into();
            v["states"] = r
                .states
                .iter()
                .map(|(s, n)| serde_json::json!({"state": s.to_string(), "count": n}))
                .collect::<Vec<_>>()
                .into();
        }
        TestResult::Unsupported(why) => v["unsupported"] = why.clone().into(),
        TestResult::Error(why) => v["error"] = why.clone().into(),
    }
    if let Some(e) = exp {
        v["expected"] = e.verdict.clone().into();
        v["expected_data_race"] = e.data_race.into();
        v["agreement"] = agreement.word().into();
    }
    v
}
