//! The `kgrace` command line: list, run, replay.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};

use kgrace::harness::{self, Expected};
use kgrace::sched::SchedulerSpec;
use kgrace::{Budget, Explorer, MemoryModel, Trace, Verdict};

mod litmus_cmd;

/// kgrace: a deterministic concurrency fuzzer for kernel-style synchronization.
#[derive(Parser, Debug)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// List the harnesses, their variants, and each variant's expected verdict.
    List {
        /// One JSON array (harness, variants, expected verdicts), for scripts such as ci/fuzz.sh.
        #[arg(long)]
        json: bool,
    },
    /// Explore a harness variant (or, with --all, every one) and write a trace of the first failure.
    Run(RunArgs),
    /// Run herd7 C litmus tests exhaustively on the kernel model and judge them as herd7 does;
    /// with --expected, compare with herd7's verdicts. Exit 1 on a disagreement.
    Litmus(litmus_cmd::LitmusArgs),
    /// Re-run a trace and print it as per-CPU columns. Exit 1: the recorded failure reproduces;
    /// 0: the execution finishes cleanly; 3: the run diverges from the trace.
    Replay {
        /// The trace file (JSON, as written by `kgrace run` or a fuzz target), or a raw fuzz input
        /// (libFuzzer's `crash-*` artifact).
        trace: PathBuf,
        /// Print every event on its own line with its source line, instead of columns.
        #[arg(long)]
        list: bool,
        /// For a raw fuzz input: the harness (default: the artifact's directory name, as in
        /// `fuzz/artifacts/<harness>/`).
        #[arg(long)]
        harness: Option<String>,
        /// For a raw fuzz input: the variant the target explored (default: the posted one).
        #[arg(long)]
        variant: Option<String>,
        /// For a raw fuzz input: the memory model the target ran under (its KGRACE_FUZZ_MEMORY).
        #[arg(long, value_enum, default_value_t = Memory::Sc)]
        memory: Memory,
    },
}

#[derive(clap::Args, Debug)]
struct RunArgs {
    /// The harness to explore (see `kgrace list`).
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    harness: Option<String>,
    /// Every harness and variant with its default budget; compares verdicts with the expected ones.
    #[arg(long)]
    all: bool,
    /// The variant (default: the thread's posted code, listed first).
    #[arg(long)]
    variant: Option<String>,
    /// The search strategy.
    #[arg(long, value_enum, default_value_t = Sched::Portfolio)]
    scheduler: Sched,
    /// The memory model: `sc` (every load reads the newest store) or `lkmm` (a load may read an
    /// older store where the Linux-kernel memory model allows it). Default `sc`; `run --all`
    /// without it checks every variant under both.
    #[arg(long, value_enum)]
    memory: Option<Memory>,
    /// For `--scheduler dfs`: at most this many preemptions per execution.
    #[arg(long, default_value_t = 2)]
    preemptions: u32,
    /// PCT bug depth.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=16))]
    depth: u32,
    /// Seed of the run: the same seed explores the same executions.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Stop after this many executions (default 10000).
    #[arg(long, conflicts_with = "time")]
    iterations: Option<u64>,
    /// Stop after this many seconds.
    #[arg(long)]
    time: Option<u64>,
    /// Where to write the trace of a failure (never overwrites a file).
    #[arg(long, default_value = "replay")]
    trace_dir: PathBuf,
    /// Print the summary as one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Sched {
    /// PCT and uniform, one execution each
    Portfolio,
    /// PCT (Burckhardt et al., ASPLOS 2010)
    Pct,
    /// A uniformly random CPU at each shared step
    Random,
    /// A uniform random walk over interleavings (SURW, Zhao et al., ASPLOS 2025)
    Uniform,
    /// The uniform walk with PCT's stalls
    Stall,
    /// Exhaustive depth-first search within --preemptions (reports whether it finished)
    Dfs,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Memory {
    /// Sequential consistency
    Sc,
    /// The Linux-kernel memory model (view-based weak memory)
    Lkmm,
}

impl From<Memory> for MemoryModel {
    fn from(m: Memory) -> Self {
        match m {
            Memory::Sc => MemoryModel::Sc,
            Memory::Lkmm => MemoryModel::Lkmm,
        }
    }
}

/// Executions per variant for `run` without a budget, and for `run --all`.
const DEFAULT_ITERATIONS: u64 = 10_000;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match real_main(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn real_main(cli: Cli) -> Result<u8> {
    match cli.command {
        Command::List { json: true } => {
            let list: Vec<_> = harness::all()
                .iter()
                .map(|h| {
                    let variants: Vec<_> = h
                        .variants
                        .iter()
                        .map(|v| {
                            serde_json::json!({"name": v.name, "expected": v.expected.to_string(),
                                "fails": v.expected.fails()})
                        })
                        .collect();
                    serde_json::json!({"harness": h.name, "variants": variants})
                })
                .collect();
            println!("{}", serde_json::Value::from(list));
            Ok(0)
        }
        Command::List { json: false } => {
            for h in harness::all() {
                println!("{}  ({})", h.name, h.thread);
                println!("    {}", h.question);
                for v in h.variants {
                    println!("    {:<22} {:<31} {}", v.name, v.expected.to_string(), v.summary);
                }
            }
            Ok(0)
        }
        Command::Run(args) if args.all => run_all(&args),
        Command::Run(args) => run_one(&args),
        Command::Litmus(args) => litmus_cmd::litmus(&args),
        Command::Replay {
            trace,
            list,
            harness,
            variant,
            memory,
        } => replay(
            &trace,
            list,
            harness.as_deref(),
            variant.as_deref(),
            memory.into(),
        ),
    }
}

fn spec(args: &RunArgs) -> SchedulerSpec {
    match args.scheduler {
        Sched::Pct => SchedulerSpec::Pct {
            depth: args.depth,
            seed: args.seed,
        },
        Sched::Random => SchedulerSpec::Random { seed: args.seed },
        Sched::Uniform => SchedulerSpec::Uniform { seed: args.seed },
        Sched::Stall => SchedulerSpec::Stall {
            depth: args.depth,
            seed: args.seed,
        },
        Sched::Portfolio => SchedulerSpec::Portfolio {
            depth: args.depth,
            seed: args.seed,
        },
        Sched::Dfs => SchedulerSpec::Dfs {
            preemptions: Some(args.preemptions),
        },
    }
}

fn budget(args: &RunArgs) -> Budget {
    match (args.iterations, args.time) {
        (Some(n), _) => Budget::Executions(n),
        (None, Some(t)) => Budget::Time(Duration::from_secs(t)),
        (None, None) => Budget::Executions(DEFAULT_ITERATIONS),
    }
}

fn progress_bar(enabled: bool, budget: Budget, label: String) -> Option<indicatif::ProgressBar> {
    if !enabled || !std::io::stderr().is_terminal() {
        return None;
    }
    let pb = match budget {
        Budget::Executions(n) => indicatif::ProgressBar::new(n),
        _ => indicatif::ProgressBar::new_spinner(),
    };
    pb.set_style(
        indicatif::ProgressStyle::with_template("{msg} [{elapsed}] {wide_bar} {pos} executions ({per_sec})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    pb.set_message(label);
    Some(pb)
}

/// Explore one variant with a progress bar on a terminal; write the trace of a failure.
fn explore(
    h: &'static harness::Harness,
    v: &'static harness::Variant,
    memory: MemoryModel,
    args: &RunArgs,
) -> Result<(kgrace::Report, Option<PathBuf>)> {
    let budget = budget(args);
    let pb = progress_bar(!args.json, budget, format!("{} [{}] {memory}", h.name, v.name));
    let cb = pb
        .clone()
        .map(|pb| Box::new(move |n: u64| pb.set_position(n)) as Box<dyn FnMut(u64)>);
    let report = Explorer::new(h.name, v.name)?
        .scheduler(spec(args))
        .memory(memory)
        .budget(budget)
        .run_with_progress(cb);
    if let Some(pb) = pb {
        pb.finish_and_clear();
    }
    let path = match &report.trace {
        Some(t) => Some(t.save_new(&args.trace_dir)?),
        None => None,
    };
    Ok((report, path))
}

fn run_one(args: &RunArgs) -> Result<u8> {
    let name = args
        .harness
        .as_deref()
        .expect("clap requires a harness without --all");
    let h = harness::find(name)?;
    let v = match &args.variant {
        Some(v) => h.variant(v)?,
        None => h.default_variant(),
    };
    let memory = args.memory.map_or(MemoryModel::Sc, MemoryModel::from);
    let (report, path) = explore(h, v, memory, args)?;
    if args.json {
        let summary = serde_json::json!({
            "harness": h.name,
            "variant": v.name,
            "scheduler": spec(args),
            "memory": report.memory,
            "exhausted": report.exhausted,
            "executions": report.executions,
            "executions_per_sec": report.rate().round(),
            "expected": v.expected.to_string(),
            "result": report.failure.as_ref().map(|f| f.kind.name()).unwrap_or("passed"),
            "failure": report.failure,
            "trace": path,
        });
        println!("{summary}");
    } else {
        println!(
            "{} [{}] under {}, memory model {}: {} executions in {:.2}s ({:.0}/s)",
            h.name,
            v.name,
            spec(args),
            report.memory,
            report.executions,
            report.elapsed.as_secs_f64(),
            report.rate()
        );
        match (&report.failure, &path) {
            (Some(f), Some(p)) => {
                println!(
                    "FAILED ({}) in execution {}:\n{}",
                    f.kind, report.executions, f.message
                );
                println!(
                    "trace written to {}\nreplay it: kgrace replay {}",
                    p.display(),
                    p.display()
                );
            }
            _ if report.exhausted => println!(
                "passed: no failure in any execution; the search explored every execution within \
                 its bounds"
            ),
            _ if matches!(args.scheduler, Sched::Dfs) => println!(
                "passed: no failure found, but the search did not finish within the budget (not \
                 exhaustive)"
            ),
            _ => println!("passed: no failure found"),
        }
    }
    Ok(if report.failure.is_some() { 1 } else { 0 })
}

/// One cell of `run --all`: a variant under one memory model.
struct Cell {
    memory: MemoryModel,
    observed: Expected,
    ok: bool,
    executions: u64,
    rate: f64,
    trace: Option<PathBuf>,
}

fn run_all(args: &RunArgs) -> Result<u8> {
    let models: Vec<MemoryModel> = match args.memory {
        Some(m) => vec![m.into()],
        None => MemoryModel::ALL.to_vec(),
    };
    let mut rows = Vec::new();
    let mut all_ok = true;
    for h in harness::all() {
        for v in h.variants {
            let mut cells = Vec::new();
            for &m in &models {
                // A variant that pins its memory model runs once, under it.
                if v.config.memory.is_some_and(|p| p != m) {
                    continue;
                }
                let (report, path) = explore(h, v, m, args)?;
                let observed = match &report.failure {
                    Some(f) => Expected::Fails(f.kind),
                    None => Expected::Passes,
                };
                let ok = v.expected.matches(report.failure.as_ref().map(|f| f.kind));
                all_ok &= ok;
                cells.push(Cell {
                    memory: m,
                    observed,
                    ok,
                    executions: report.executions,
                    rate: report.rate(),
                    trace: path,
                });
            }
            rows.push((h.name, v.name, v.expected, cells));
        }
    }
    if args.json {
        let list: Vec<_> = rows
            .iter()
            .map(|(h, v, e, cells)| {
                let by_model: serde_json::Map<String, serde_json::Value> = cells
                    .iter()
                    .map(|c| {
                        (c.memory.to_string(), serde_json::json!({"observed": c.observed.to_string(), "ok": c.ok,
                            "executions": c.executions, "executions_per_sec": c.rate.round(), "trace": c.trace}))
                    })
                    .collect();
                serde_json::json!({"harness": h, "variant": v, "expected": e.to_string(),
                    "ok": cells.iter().all(|c| c.ok), "memory": by_model})
            })
            .collect();
        println!("{}", serde_json::json!({"ok": all_ok, "variants": list}));
    } else {
        let mut header = format!("{:<18} {:<24} {:<29}", "harness", "variant", "expected");
        for m in &models {
            header.push_str(&format!(" {:<29} {:>7}", format!("observed ({m})"), "exec/s"));
        }
        println!("{header}");
        for (h, v, e, cells) in &rows {
            let mut line = format!("{:<18} {:<24} {:<29}", h, v, e.to_string());
            for m in &models {
                match cells.iter().find(|c| c.memory == *m) {
                    Some(c) => line.push_str(&format!(
                        " {:<29} {:>7.0}",
                        format!("{}{}", c.observed, if c.ok { "" } else { " <-- UNEXPECTED" }),
                        c.rate
                    )),
                    None => line.push_str(&format!(" {:<29} {:>7}", "- (variant pins the other)", "")),
                }
            }
            println!("{}", line.trim_end());
        }
        let traces: Vec<_> = rows
            .iter()
            .flat_map(|(_, _, _, cells)| cells.iter().filter_map(|c| c.trace.as_ref()))
            .collect();
        if !traces.is_empty() {
            println!("traces of the failures are in {}", args.trace_dir.display());
        }
        println!(
            "{}",
            if all_ok {
                "all verdicts as expected"
            } else {
                "some verdicts differ from the expected ones"
            }
        );
    }
    Ok(if all_ok { 0 } else { 1 })
}

/// A JSON trace, or the trace of a raw fuzz input. libFuzzer's artifacts are arbitrary bytes, and
/// every byte string is a schedule: a file is a trace when it is named `.json`, or when it looks
/// like JSON and nothing says it is a fuzz input (`--harness`, `--variant`, or a directory named
/// after a harness, as cargo-fuzz's `fuzz/artifacts/<target>/`).
fn load_trace(
    path: &std::path::Path,
    harness: Option<&str>,
    variant: Option<&str>,
    memory: MemoryModel,
) -> Result<Trace> {
    let data = std::fs::read(path).with_context(|| format!("cannot read trace {}", path.display()))?;
    let dir = path.parent().and_then(|d| d.file_name()).and_then(|d| d.to_str());
    let dir_harness = dir.filter(|d| harness::find(d).is_ok());
    let flags = harness.is_some() || variant.is_some();
    let json_name = path.extension().is_some_and(|e| e == "json");
    let looks_json = data.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    if json_name && flags {
        anyhow::bail!(
            "--harness and --variant are for raw fuzz inputs; {} is a JSON trace",
            path.display()
        );
    }
    if json_name || (looks_json && !flags && dir_harness.is_none()) {
        return Ok(Trace::load(path)?);
    }
    let Some(harness) = harness.or(dir_harness) else {
        anyhow::bail!(
            "{} is not a JSON trace; as a raw fuzz input it needs --harness (it is not in a \
             fuzz/artifacts/<harness>/ directory)",
            path.display()
        );
    };
    let h = harness::find(harness)?;
    let v = variant.unwrap_or(h.default_variant().name);
    Ok(kgrace::fuzz::replay_input(h.name, v, memory, &data)?)
}

fn replay(
    path: &std::path::Path,
    list: bool,
    harness: Option<&str>,
    variant: Option<&str>,
    memory: MemoryModel,
) -> Result<u8> {
    let trace = load_trace(path, harness, variant, memory)?;
    let result = trace
        .replay()
        .with_context(|| format!("replaying {}", path.display()))?;
    if list {
        for e in &result.events {
            println!(
                "{:>5} {:<28} {:<24} {:<22} {:<34} {:>8} {:>8}  {}",
                e.step,
                e.cpu_name,
                e.func,
                e.op,
                e.location,
                e.read.map(|v| v.to_string()).unwrap_or_default(),
                e.wrote.map(|v| v.to_string()).unwrap_or_default(),
                e.source
            );
        }
        if let Some(f) = &result.failure {
            println!("\n{}", f.message);
        }
    } else {
        print!("{}", trace.render(&result.events, result.failure.as_ref()));
    }
    Ok(match trace.verdict(&result) {
        Verdict::Reproduced => {
            println!(
                "\nreproduced: the recorded failure happened again at step {}",
                result.failure.as_ref().map(|f| f.step).unwrap_or(0)
            );
            1
        }
        Verdict::Clean => {
            println!("\nthe execution finished without failure, as recorded");
            0
        }
        Verdict::Diverged(why) => {
            println!("\nDIVERGED: the run no longer follows the trace {why}");
            3
        }
    })
}
