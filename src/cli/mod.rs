//! The command line of `kgrace`, and of your own binary: `list`, `run`, `run --all`, `replay`,
//! `minimize`, `bench` and `litmus` over a registry of harnesses.
//!
//! The `kgrace` binary is [`main`] over the built-in harnesses ([`harness::all`]). A crate of your
//! own declares its harnesses with the same types ([`Harness`], [`harness::Variant`],
//! [`harness::Expected`], [`harness::Config`], [`harness::Body`]) and gets the same commands for
//! them from one call in its `main`; the traces it writes name its harnesses, and replay through
//! it (the built-in `kgrace` refuses them, exit 2, saying so):
//!
//! ```no_run
//! use kgrace::harness::{Body, Expected, Harness, Variant};
//! use kgrace::{harness::Config, FailureKind};
//!
//! static HARNESSES: &[Harness] = &[Harness {
//!     name: "my_race",
//!     thread: "where it comes from",
//!     question: "what its variants settle, in one line",
//!     variants: &[
//!         Variant {
//!             name: "buggy",
//!             expected: Expected::Fails(FailureKind::DataRace),
//!             summary: "the code as posted",
//!             config: Config::DEFAULT,
//!         },
//!         Variant {
//!             name: "fixed",
//!             expected: Expected::Passes,
//!             summary: "the fix",
//!             config: Config::DEFAULT,
//!         },
//!     ],
//!     body: Body::new(body),
//! }];
//!
//! fn body(variant: &'static str) {
//!     // CPU0: set up, spawn the CPUs, join them, free; `variant` picks the code.
//! #   let _ = variant;
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     kgrace::cli::main(HARNESSES)
//! }
//! ```
//!
//! `examples/seqlock.rs` is a complete one (the crate docs, "Writing a model", walk through it).

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};

use crate::harness::{self, Expected, Harness};
use crate::sched::SchedulerSpec;
use crate::trace::{Saved, Size};
use crate::{Budget, Explorer, MemoryModel, Trace, Verdict};

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
    /// For every failing variant, strategy and memory model: in how many seeds each strategy finds
    /// the failure, and the median executions it takes. How a scheduler change is judged.
    Bench(bench_cmd::BenchArgs),
    /// Re-run a trace and print it as per-CPU columns. Exit 1: the recorded failure reproduces;
    /// 0: the execution finishes cleanly; 3: the run diverges from the trace; 2: the file cannot
    /// be used (unreadable, not a trace, over 32 MiB).
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
        /// Also write the execution as a Chrome/Perfetto trace-event file (open it in
        /// https://ui.perfetto.dev): a track per CPU, a slice per kernel function call, one per
        /// access, and arrows from each store to the loads on other CPUs that read it.
        #[arg(long, value_name = "OUT.json")]
        perfetto: Option<PathBuf>,
        /// Replace an existing --perfetto file (by default it is left as it is, and nothing is
        /// written).
        #[arg(long, requires = "perfetto")]
        force: bool,
    },
    /// Minimize a failing trace: the fewest preemptions, then the fewest steps, that fail the same
    /// way at the same place. Writes a new trace (the given one is left as it is) and prints the
    /// sizes before and after. Exit 0: written; 2: the trace cannot be used or minimized, or OUT
    /// exists.
    Minimize {
        /// The trace file (JSON, as written by `kgrace run` or a fuzz target).
        trace: PathBuf,
        /// Where to write the minimized trace (default: next to TRACE, named by a hash of its
        /// execution like the traces of `kgrace run`).
        #[arg(short, long, value_name = "OUT.json")]
        output: Option<PathBuf>,
        /// Replace an existing OUT.
        #[arg(long, requires = "output")]
        force: bool,
    },
}

#[derive(clap::Args, Debug)]
struct RunArgs {
    /// The harness to explore (see `kgrace list`).
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    harness: Option<String>,
    /// Every harness and variant (10000 executions each unless --iterations or --time says
    /// otherwise); compares verdicts with the expected ones. Writes traces only with --trace-dir.
    #[arg(long)]
    all: bool,
    /// The variant (default: the thread's posted code, listed first).
    #[arg(long, conflicts_with = "all")]
    variant: Option<String>,
    /// The search strategy.
    #[arg(long, value_enum, default_value_t = Sched::Guided)]
    scheduler: Sched,
    /// The memory model: `sc` (every load reads the newest store) or `lkmm` (a load may read an
    /// older store where the Linux-kernel memory model allows it). Default `sc`; `run --all`
    /// without it checks every variant under both.
    #[arg(long, value_enum)]
    memory: Option<Memory>,
    /// For `--scheduler dfs`: at most this many preemptions per execution.
    #[arg(long, default_value_t = 2)]
    preemptions: u32,
    /// PCT bug depth (the portfolio's and stall's too; guided's PCT arm runs one deeper).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=16))]
    depth: u32,
    /// Seed of the run: the same seed explores the same executions.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Stop after this many executions (default 10000).
    #[arg(long, conflicts_with = "time", value_parser = parse_iterations)]
    iterations: Option<u64>,
    /// Stop after this long: seconds (`30`, `0.5`) or with a unit (`90s`, `500ms`, `5m`, `1h`).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    time: Option<Duration>,
    /// Where to write the trace of a failure (default `traces/`, which git ignores; `replay/` is
    /// for curated regressions). `run --all` writes traces only when this is given. A trace is
    /// named by a hash of its execution, and never overwrites a file.
    #[arg(long, value_name = "DIR")]
    trace_dir: Option<PathBuf>,
    /// Print the summary as one JSON object on stdout.
    #[arg(long)]
    json: bool,
    /// Worker threads (default: the number of cores). One variant: worker 0 explores with
    /// --seed and each other worker with a seed of its own, the budget split between them, all
    /// stopping at the first failure (its trace names its worker's seed). `--all`: the variants
    /// are shared out, each explored exactly as with one job. `--jobs 1` is the sequential run.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1024))]
    jobs: Option<u64>,
    /// Write the failing execution as found, without minimizing it first (by default a trace
    /// is minimized to the fewest preemptions, then steps, that fail the same way at the same
    /// place; `kgrace minimize` does it later).
    #[arg(long)]
    no_minimize: bool,
}

impl RunArgs {
    fn jobs(&self) -> usize {
        self.jobs.map_or_else(
            || std::thread::available_parallelism().map_or(1, |n| n.get()),
            |j| j as usize,
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Sched {
    /// Portfolio's first 22 executions, then PCT, uniform, POS, mutations of executions that
    /// found new reads-from pairs and reversals of near misses, under a bandit (RFF, Wolff et
    /// al., ASPLOS 2024)
    Guided,
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
    /// Partial order sampling (POS, Yuan et al., CAV 2018)
    Pos,
    /// Exhaustive depth-first search within --preemptions (reports whether it finished)
    Dfs,
}

impl Sched {
    /// The seeded strategies, which `kgrace bench` compares.
    const RANDOMIZED: [Sched; 7] = [
        Sched::Guided,
        Sched::Portfolio,
        Sched::Pct,
        Sched::Uniform,
        Sched::Pos,
        Sched::Random,
        Sched::Stall,
    ];
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

/// Set once stdout is closed (`kgrace replay T | head`): output stops there, and the command
/// still ends with its own exit code instead of a panic in `println!`.
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Write to stdout unless it is closed.
pub(crate) fn write_out(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return;
    }
    if let Err(e) = std::io::stdout().lock().write_fmt(args) {
        STDOUT_CLOSED.store(true, Ordering::Relaxed);
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("kgrace: cannot write to stdout: {e}");
        }
    }
}

/// `print!` that stops quietly when stdout is closed.
macro_rules! out {
    ($($t:tt)*) => { $crate::cli::write_out(format_args!($($t)*)) };
}

/// `println!` that stops quietly when stdout is closed.
macro_rules! outln {
    () => { $crate::cli::write_out(format_args!("\n")) };
    ($($t:tt)*) => {{ $crate::cli::write_out(format_args!($($t)*)); $crate::cli::write_out(format_args!("\n")) }};
}

mod bench_cmd;
mod litmus_cmd;

/// Executions per variant for `run` without a budget, and for `run --all`.
const DEFAULT_ITERATIONS: u64 = 10_000;

/// Where `run` writes a trace without `--trace-dir`: ignored by git (`.gitignore`), unlike
/// `replay/`, whose traces are regressions that `cargo test` replays.
const DEFAULT_TRACE_DIR: &str = "traces";

/// `--iterations`: at least one (no execution would pass any variant).
fn parse_iterations(s: &str) -> Result<u64, String> {
    match s.trim().parse::<u64>() {
        Ok(0) => Err("at least 1 execution: none would pass any variant".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(format!("{e}; give a number of executions, such as 10000")),
    }
}

/// `--time`: a positive number of seconds, or a number with a unit (`ms`, `s`, `m`, `h`).
fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let num = t.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &t[num.len()..];
    let hint = "give seconds (30, 0.5) or a number with a unit: 500ms, 90s, 5m, 1h";
    let scale = match unit {
        "" | "s" | "sec" | "secs" => 1.0,
        "ms" => 1e-3,
        "m" | "min" | "mins" => 60.0,
        "h" => 3600.0,
        _ => return Err(format!("unknown unit `{unit}`; {hint}")),
    };
    let x: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a duration; {hint}"))?;
    if x.is_nan() || x <= 0.0 {
        return Err(format!("the duration must be more than 0; {hint}"));
    }
    Duration::try_from_secs_f64(x * scale).map_err(|_| format!("`{s}` is too long"))
}

/// The command that replays `path`, as it works when typed: the binary's name when it was run by
/// name from the PATH (`kgrace` after `cargo install --path .`); for the built-in `kgrace` run
/// from the checkout, through cargo; for a binary of your own run by path, that path.
fn replay_command(registry: &'static [Harness], path: &Path) -> String {
    let argv0 = std::env::args().next().unwrap_or_else(|| "kgrace".into());
    let by_name = !argv0.contains(std::path::MAIN_SEPARATOR);
    let prefix = if by_name || !std::ptr::eq(registry, harness::all()) {
        shell_quote(&argv0)
    } else {
        "cargo run --release --".into()
    };
    format!("{prefix} replay {}", shell_quote(&path.display().to_string()))
}

/// `s` as one shell word.
fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+=:,@%".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// The whole command line (`list`, `run`, `run --all`, `replay`, `minimize`, `bench`, `litmus`)
/// over `harnesses`: the `main` of the `kgrace` binary with [`harness::all`], and of your own
/// with yours. Every command that names a harness, a trace's or a fuzz input's, looks it up among
/// `harnesses`. Exit codes as `kgrace --help` documents them: 0 passed (or done), 1 a failure
/// found or reproduced, 2 a usage error, 3 a replay diverged.
pub fn main(harnesses: &'static [Harness]) -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match real_main(harnesses, cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn real_main(registry: &'static [Harness], cli: Cli) -> Result<u8> {
    match cli.command {
        Command::List { json: true } => {
            let list: Vec<_> = registry
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
            outln!("{}", serde_json::Value::from(list));
            Ok(0)
        }
        Command::List { json: false } => {
            // One column width for every harness, so that the summaries line up down the list.
            let variants = || registry.iter().flat_map(|h| h.variants.iter());
            let name_w = variants().map(|v| v.name.len()).max().unwrap_or(0);
            let expected_w = variants()
                .map(|v| v.expected.to_string().len())
                .max()
                .unwrap_or(0);
            for h in registry {
                outln!("{}  ({})", h.name, h.thread);
                outln!("    {}", h.question);
                for v in h.variants {
                    outln!(
                        "    {:<name_w$}  {:<expected_w$}  {}",
                        v.name,
                        v.expected.to_string(),
                        v.summary
                    );
                }
            }
            Ok(0)
        }
        Command::Run(args) if args.all => run_all(registry, &args),
        Command::Run(args) => run_one(registry, &args),
        Command::Litmus(args) => litmus_cmd::litmus(registry, &args),
        Command::Bench(args) => bench_cmd::bench(registry, &args),
        Command::Replay {
            trace,
            list,
            harness,
            variant,
            memory,
            perfetto,
            force,
        } => replay(
            registry,
            &trace,
            list,
            harness.as_deref(),
            variant.as_deref(),
            memory.into(),
            perfetto.as_deref().map(|p| (p, force)),
        ),
        Command::Minimize { trace, output, force } => minimize(registry, &trace, output.as_deref(), force),
    }
}

fn spec(args: &RunArgs) -> SchedulerSpec {
    sched_spec(args.scheduler, args.depth, args.preemptions, args.seed)
}

/// The strategy `--scheduler` names, with its parameters.
fn sched_spec(s: Sched, depth: u32, preemptions: u32, seed: u64) -> SchedulerSpec {
    match s {
        Sched::Pct => SchedulerSpec::Pct { depth, seed },
        Sched::Random => SchedulerSpec::Random { seed },
        Sched::Uniform => SchedulerSpec::Uniform { seed },
        Sched::Pos => SchedulerSpec::Pos { seed },
        Sched::Stall => SchedulerSpec::Stall { depth, seed },
        Sched::Portfolio => SchedulerSpec::Portfolio { depth, seed },
        Sched::Guided => SchedulerSpec::Guided { depth, seed },
        Sched::Dfs => SchedulerSpec::Dfs {
            preemptions: Some(preemptions),
        },
    }
}

fn budget(args: &RunArgs) -> Budget {
    match (args.iterations, args.time) {
        (Some(n), _) => Budget::Executions(n),
        (None, Some(t)) => Budget::Time(t),
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

/// What became of the trace of a failure.
enum TraceOutcome {
    /// No failure, or no trace asked for (`run --all` without `--trace-dir`).
    None,
    /// Written, with its size before and after minimization unless `--no-minimize`.
    Saved(Saved, Option<(Size, Size)>),
    /// The trace could not be written: why, with its causes.
    Failed(String),
}

impl TraceOutcome {
    fn path(&self) -> Option<&Path> {
        match self {
            TraceOutcome::Saved(s, _) => Some(&s.path),
            _ => None,
        }
    }

    fn minimized(&self) -> Option<(Size, Size)> {
        match self {
            TraceOutcome::Saved(_, m) => *m,
            _ => None,
        }
    }
}

/// Explore one variant with a progress bar on a terminal; write the trace of a failure to `dir`.
/// A trace that cannot be written does not lose the failure: the report comes back either way.
fn explore(
    h: &'static harness::Harness,
    v: &'static harness::Variant,
    memory: MemoryModel,
    args: &RunArgs,
    dir: Option<&Path>,
    jobs: usize,
    bar: bool,
) -> Result<(crate::Report, TraceOutcome)> {
    let budget = budget(args);
    let pb = progress_bar(
        bar && !args.json,
        budget,
        format!("{} [{}] {memory}", h.name, v.name),
    );
    let cb = pb
        .clone()
        .map(|pb| Box::new(move |n: u64| pb.set_position(n)) as Box<dyn FnMut(u64)>);
    let report = Explorer::for_variant(h, v)
        .scheduler(spec(args))
        .memory(memory)
        .budget(budget)
        .jobs(jobs)
        .run_with_progress(cb);
    if let Some(pb) = pb {
        pb.finish_and_clear();
    }
    let mut minimized = None;
    let outcome = match (&report.trace, dir) {
        (Some(t), Some(dir)) => {
            let t = if args.no_minimize {
                t.clone()
            } else {
                match crate::minimize::minimize_in(std::slice::from_ref(h), t) {
                    Ok(m) => {
                        minimized = Some((m.before, m.after));
                        m.trace
                    }
                    // The raw trace is still a good one: keep it, and say why.
                    Err(e) => {
                        eprintln!("kgrace: the trace is written as found: {e}");
                        t.clone()
                    }
                }
            };
            match t.save_new(dir) {
                Ok(s) => TraceOutcome::Saved(s, minimized),
                Err(e) => TraceOutcome::Failed(format!("{:#}", anyhow::Error::from(e))),
            }
        }
        _ => TraceOutcome::None,
    };
    Ok((report, outcome))
}

fn run_one(registry: &'static [Harness], args: &RunArgs) -> Result<u8> {
    let name = args
        .harness
        .as_deref()
        .expect("clap requires a harness without --all");
    let h = harness::find_in(registry, name)?;
    let v = match &args.variant {
        Some(v) => h.variant(v)?,
        None => h.default_variant(),
    };
    let memory = args.memory.map_or(MemoryModel::Sc, MemoryModel::from);
    let dir = args
        .trace_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_TRACE_DIR));
    let (report, trace) = explore(h, v, memory, args, Some(&dir), args.jobs(), true)?;
    let not_written = match &trace {
        TraceOutcome::Failed(why) => Some(why.as_str()),
        _ => None,
    };
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
            "trace": trace.path(),
            "trace_error": not_written,
            "minimized": trace.minimized().map(|(before, after)|
                serde_json::json!({"before": before, "after": after})),
        });
        outln!("{summary}");
    } else {
        outln!(
            "{} [{}] under {}, memory model {}: {} executions in {:.2}s ({:.0}/s)",
            h.name,
            v.name,
            spec(args),
            report.memory,
            report.executions,
            report.elapsed.as_secs_f64(),
            report.rate()
        );
        match &report.failure {
            Some(f) => {
                // With several jobs, the worker that found it has a seed of its own.
                let (n, by) = match &report.trace {
                    Some(t) if t.scheduler != spec(args) => (
                        t.execution,
                        format!(
                            " of the worker under {} (`--seed {} --jobs 1` finds it again)",
                            t.scheduler,
                            t.scheduler.seed().unwrap_or(0)
                        ),
                    ),
                    Some(t) => (t.execution, String::new()),
                    None => (report.executions, String::new()),
                };
                outln!("FAILED ({}) in execution {n}{by}:\n{}", f.kind, f.message);
                if let Some((before, after)) = trace.minimized() {
                    outln!("minimized from {before} to {after} (--no-minimize keeps it as found)");
                }
                match &trace {
                    TraceOutcome::Saved(s, _) if s.existed => outln!(
                        "the trace of this execution is already in {}\nreplay it: {}",
                        s.path.display(),
                        replay_command(registry, &s.path)
                    ),
                    TraceOutcome::Saved(s, _) => outln!(
                        "trace written to {}\nreplay it: {}",
                        s.path.display(),
                        replay_command(registry, &s.path)
                    ),
                    _ => {}
                }
            }
            None if report.exhausted => outln!(
                "passed: no failure in any execution; the search explored every execution within \
                 its bounds"
            ),
            None if matches!(args.scheduler, Sched::Dfs) => outln!(
                "passed: no failure found, but the search did not finish within the budget (not \
                 exhaustive)"
            ),
            None => outln!("passed: no failure found"),
        }
    }
    if let Some(why) = not_written {
        eprintln!(
            "kgrace: the failure above is not lost, but its trace was not written: {why}\n\
             the run is deterministic: the same command with another --trace-dir writes it"
        );
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
    trace: TraceOutcome,
}

fn run_all(registry: &'static [Harness], args: &RunArgs) -> Result<u8> {
    let models: Vec<MemoryModel> = match args.memory {
        Some(m) => vec![m.into()],
        None => MemoryModel::ALL.to_vec(),
    };
    // Every cell, explored on `jobs` workers; each exactly as with one job.
    let mut work = Vec::new();
    for h in registry {
        for v in h.variants {
            for &m in &models {
                // A variant that pins its memory model runs once, under it.
                if v.config.memory.is_none_or(|p| p == m) {
                    work.push((h, v, m));
                }
            }
        }
    }
    let jobs = args.jobs();
    let mut results = crate::pool::map_ordered(
        &work,
        jobs,
        |&(h, v, m)| explore(h, v, m, args, args.trace_dir.as_deref(), 1, jobs == 1),
        |_| {},
    )
    .into_iter();
    let mut rows = Vec::new();
    let mut all_ok = true;
    for h in registry {
        for v in h.variants {
            let mut cells = Vec::new();
            for &m in &models {
                if v.config.memory.is_some_and(|p| p != m) {
                    continue;
                }
                let (report, trace) = results.next().expect("every cell was explored")?;
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
                    trace,
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
                        (
                            c.memory.to_string(),
                            serde_json::json!({"observed": c.observed.to_string(), "ok": c.ok,
                            "executions": c.executions, "executions_per_sec": c.rate.round(),
                            "trace": c.trace.path()}),
                        )
                    })
                    .collect();
                serde_json::json!({"harness": h, "variant": v, "expected": e.to_string(),
                    "ok": cells.iter().all(|c| c.ok), "memory": by_model})
            })
            .collect();
        outln!("{}", serde_json::json!({"ok": all_ok, "variants": list}));
    } else {
        // Columns as wide as their longest entry.
        let hw = rows.iter().map(|r| r.0.len()).max().unwrap_or(0).max(7);
        let vw = rows.iter().map(|r| r.1.len()).max().unwrap_or(0).max(7);
        let ew = rows
            .iter()
            .map(|r| r.2.to_string().len())
            .max()
            .unwrap_or(0)
            .max(8);
        let mut header = format!("{:<hw$} {:<vw$} {:<ew$}", "harness", "variant", "expected");
        for m in &models {
            header.push_str(&format!(" {:<29} {:>7}", format!("observed ({m})"), "exec/s"));
        }
        outln!("{header}");
        for (h, v, e, cells) in &rows {
            let mut line = format!("{:<hw$} {:<vw$} {:<ew$}", h, v, e.to_string());
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
            outln!("{}", line.trim_end());
        }
        let written = rows
            .iter()
            .flat_map(|(_, _, _, cells)| cells.iter().filter(|c| c.trace.path().is_some()))
            .count();
        if let (Some(dir), true) = (&args.trace_dir, written > 0) {
            outln!("traces of the failures are in {}", dir.display());
        }
        outln!(
            "{}",
            if all_ok {
                "all verdicts as expected"
            } else {
                "some verdicts differ from the expected ones"
            }
        );
    }
    // Each reason once, however many traces it stopped.
    let mut reasons: Vec<&str> = Vec::new();
    for (_, _, _, cells) in &rows {
        for c in cells {
            if let TraceOutcome::Failed(why) = &c.trace {
                if !reasons.contains(&why.as_str()) {
                    reasons.push(why);
                }
            }
        }
    }
    for why in reasons {
        eprintln!("kgrace: traces not written: {why}");
    }
    Ok(if all_ok { 0 } else { 1 })
}

/// How much of a file `replay` reads before deciding whether it is a JSON trace or a raw fuzz
/// input: a raw input needs only its first [`crate::fuzz::INPUT_BYTES`].
const HEAD_BYTES: u64 = 4096;

/// A JSON trace, or the trace of a raw fuzz input. libFuzzer's artifacts are arbitrary bytes, and
/// every byte string is a schedule: a file is a trace when it is named `.json`, or when it looks
/// like JSON and nothing says it is a fuzz input (`--harness`, `--variant`, or a directory named
/// after a harness, as cargo-fuzz's `fuzz/artifacts/<target>/`). The file is read once, and no
/// further than a trace may be long ([`crate::trace::MAX_TRACE_BYTES`]) or a raw input needs.
fn load_trace(
    registry: &'static [Harness],
    path: &Path,
    harness: Option<&str>,
    variant: Option<&str>,
    memory: MemoryModel,
) -> Result<Trace> {
    let cannot_read = || format!("cannot read trace {}", path.display());
    let mut file = std::fs::File::open(path).with_context(cannot_read)?;
    let mut head = Vec::new();
    (&mut file)
        .take(HEAD_BYTES)
        .read_to_end(&mut head)
        .with_context(cannot_read)?;
    let dir = path.parent().and_then(|d| d.file_name()).and_then(|d| d.to_str());
    let dir_harness = dir.filter(|d| harness::find_in(registry, d).is_ok());
    let flags = harness.is_some() || variant.is_some();
    let json_name = path.extension().is_some_and(|e| e == "json");
    let looks_json = head.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    if json_name && flags {
        anyhow::bail!(
            "--harness and --variant are for raw fuzz inputs; {} is a JSON trace",
            path.display()
        );
    }
    if json_name || (looks_json && !flags && dir_harness.is_none()) {
        return Ok(Trace::read_from(path, std::io::Cursor::new(head).chain(file))?);
    }
    let Some(harness) = harness.or(dir_harness) else {
        anyhow::bail!(
            "{} is not a JSON trace; as a raw fuzz input it needs --harness (it is not in a \
             fuzz/artifacts/<harness>/ directory)",
            path.display()
        );
    };
    let h = harness::find_in(registry, harness)?;
    let v = variant.unwrap_or(h.default_variant().name);
    let input = &head[..head.len().min(crate::fuzz::INPUT_BYTES)];
    Ok(crate::fuzz::replay_input_in(registry, h.name, v, memory, input)?)
}

/// A trace whose harness is not in `registry` comes from another binary: say which, rather than
/// only that the name is unknown.
fn check_harness(registry: &'static [Harness], path: &Path, trace: &Trace) -> Result<()> {
    if trace.litmus.is_some() || harness::find_in(registry, &trace.harness).is_ok() {
        return Ok(());
    }
    let known = registry.iter().map(|h| h.name).collect::<Vec<_>>().join(", ");
    let builtin = std::ptr::eq(registry, harness::all());
    anyhow::bail!(
        "{} is a trace of harness `{}`, which this binary does not have (its harnesses: {known}); \
         {}",
        path.display(),
        trace.harness,
        if builtin {
            "it is a harness of your own: replay the trace through your binary, the one whose \
             `main` calls `kgrace::cli::main` with it (for an example, `cargo run --release \
             --example NAME -- replay FILE`)"
        } else {
            "replay the trace through the binary that declares that harness (`kgrace replay` for \
             the built-in ones)"
        }
    )
}

fn replay(
    registry: &'static [Harness],
    path: &Path,
    list: bool,
    harness: Option<&str>,
    variant: Option<&str>,
    memory: MemoryModel,
    perfetto: Option<(&Path, bool)>,
) -> Result<u8> {
    let trace = load_trace(registry, path, harness, variant, memory)?;
    check_harness(registry, path, &trace)?;
    let result = trace
        .replay_in(registry)
        .with_context(|| format!("replaying {}", path.display()))?;
    if let Some((out, force)) = perfetto {
        let mut json = serde_json::to_vec(&crate::perfetto::timeline(&trace, &result))
            .context("the timeline does not serialize")?;
        json.push(b'\n');
        write_file(out, &json, force)?;
        eprintln!(
            "timeline written to {} (open it in https://ui.perfetto.dev)",
            out.display()
        );
    }
    if list {
        for e in &result.events {
            outln!(
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
    } else {
        out!("{}", trace.render_events(&result.events));
    }
    // The failure of the run, if any, then one verdict.
    if let Some(f) = &result.failure {
        outln!("\n{}", f.message);
    }
    if let Some(raw) = &trace.minimized_from {
        outln!(
            "\nminimized from execution {} of {}: {raw}",
            trace.execution,
            trace.scheduler
        );
    }
    Ok(match trace.verdict(&result) {
        Verdict::Reproduced => {
            outln!(
                "\nreproduced: the recorded failure happened again at step {}",
                result.failure.as_ref().map(|f| f.step).unwrap_or(0)
            );
            1
        }
        Verdict::Clean => {
            outln!("\nno failure: the execution finished cleanly, as recorded");
            0
        }
        Verdict::Diverged(why) => {
            outln!("\nDIVERGED: {why}");
            3
        }
    })
}

/// Write `data` to `path`: a new file, or with `force` over an existing one. Without `force` an
/// existing file is an error and is left as it is (kgrace never overwrites a file unasked).
fn write_file(path: &Path, data: &[u8], force: bool) -> Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true);
    if force {
        opts.create(true).truncate(true);
    } else {
        opts.create_new(true);
    }
    let mut f = opts.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            anyhow::anyhow!(
                "{} exists, and is left as it is; give another name, or --force to replace it",
                path.display()
            )
        } else {
            anyhow::Error::from(e).context(format!("cannot write {}", path.display()))
        }
    })?;
    f.write_all(data)
        .with_context(|| format!("cannot write {}", path.display()))
}

fn minimize(registry: &'static [Harness], path: &Path, output: Option<&Path>, force: bool) -> Result<u8> {
    let trace = load_trace(registry, path, None, None, MemoryModel::Sc)?;
    check_harness(registry, path, &trace)?;
    let m = crate::minimize::minimize_in(registry, &trace)
        .with_context(|| format!("minimizing {}", path.display()))?;
    let saved = match output {
        Some(out) => {
            let mut json = serde_json::to_vec_pretty(&m.trace).context("the trace does not serialize")?;
            json.push(b'\n');
            write_file(out, &json, force)?;
            out.to_path_buf()
        }
        None => {
            let dir = path
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            m.trace.save_new(dir)?.path
        }
    };
    outln!(
        "{} [{}]: {} at step {}",
        m.trace.harness,
        m.trace.variant,
        m.trace.failure.as_ref().map_or("no failure", |f| f.kind.name()),
        m.trace.failure.as_ref().map_or(0, |f| f.step)
    );
    outln!(
        "before: {}\nafter:  {}\n({} executions tried)",
        m.before,
        m.after,
        m.runs
    );
    if m.before == m.after {
        outln!("already minimal: the trace written is the one given");
    }
    outln!(
        "minimized trace written to {}\nreplay it: {}",
        saved.display(),
        replay_command(registry, &saved)
    );
    Ok(0)
}
