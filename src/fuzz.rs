//! Fuzzing with libFuzzer (`cargo fuzz run <harness>`): the input bytes decide the interleaving.
//!
//! A target in `fuzz/fuzz_targets/` is one line over [`run_target`]. Each input is a
//! [`FuzzInput`] (PCT's priorities and change points as bytes) and runs one execution of the
//! harness under a [`FuzzSchedule`]. A failing execution is written as a kgrace trace in `traces/`
//! inside libFuzzer's artifact directory before the target crashes, one per distinct failure
//! (kind and call trace), minimized, with the raw input inside it, and `kgrace replay` accepts
//! either file.
//!
//! Speed: building a shuttle `Runner` per input allocates a fresh pool of task stacks every time,
//! and runs at a quarter of the explorer's executions/s (`cargo bench --bench fuzz_speed`). A
//! [`Session`] keeps one runner alive for the whole fuzzing run inside a coroutine: between two
//! executions the runner's scheduler suspends the coroutine, and the next input resumes it, so an
//! input costs one execution and two stack switches (about 0.8 of the explorer's rate).
//!
//! Environment of a target (read once, at its first input):
//! * `KGRACE_FUZZ_VARIANT`: the variant to explore (default: the one in a binary name
//!   `<harness>--<variant>`, else the harness's first, the thread's posted code);
//! * `KGRACE_FUZZ_RF=0`: no interleaving coverage (reads-from pairs), for comparisons.

use std::cell::{Cell, RefCell};
use std::path::PathBuf;
use std::rc::Rc;

use corosensei::stack::DefaultStack;
use corosensei::{Coroutine, CoroutineResult, Yielder};

use crate::config::MemoryModel;
use crate::engine::runtime::Adapter;
use crate::engine::{self, cover};
use crate::exec::{self, Target};
use crate::failure::Failure;
use crate::harness::{self, Harness, Variant};
use crate::sched::{CpuId, NextStep, Pct, SchedulerSpec, Strategy};
use crate::trace::{Saved, Trace};
use crate::Error;

pub use crate::sched::{ChangePoints, FuzzInput, FuzzSchedule, Priorities};

/// Executions of a harness under one runner, one [`FuzzInput`] at a time.
pub struct Session {
    target: Target,
    horizon: u64,
    schedule: Rc<RefCell<FuzzSchedule>>,
    /// The runner, suspended between two executions; `None` after a failure stopped it.
    runner: Option<Coroutine<(), (), ()>>,
    executions: u64,
    /// The harness is a built-in one, which `kgrace replay` replays (else its own binary does).
    builtin: bool,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("harness", &self.target.harness.name)
            .field("variant", &self.target.variant.name)
            .field("memory", &self.target.memory())
            .field("horizon", &self.horizon)
            .field("executions", &self.executions)
            .finish()
    }
}

impl Session {
    /// A session on `variant` of `harness` (names as `kgrace list` prints them).
    pub fn new(harness: &str, variant: &str) -> Result<Session, Error> {
        Session::with_memory(harness, variant, MemoryModel::Sc)
    }

    /// A session under memory model `memory` (a variant that pins one keeps its own).
    pub fn with_memory(harness: &str, variant: &str, memory: MemoryModel) -> Result<Session, Error> {
        let h = harness::find(harness)?;
        Ok(Session::for_variant(h, h.variant(variant)?, memory))
    }

    /// A session on a harness and variant already looked up: a built-in one or one of your own.
    pub fn for_variant(harness: &'static Harness, variant: &'static Variant, memory: MemoryModel) -> Session {
        let target = Target {
            harness,
            variant,
            memory,
        };
        let horizon = horizon(target);
        Session {
            target,
            horizon,
            schedule: Rc::new(RefCell::new(FuzzSchedule::new(horizon))),
            runner: None,
            executions: 0,
            builtin: harness::all().iter().any(|h| std::ptr::eq(h, harness)),
        }
    }

    /// The harness.
    pub fn harness(&self) -> &'static Harness {
        self.target.harness
    }

    /// The variant.
    pub fn variant(&self) -> &'static Variant {
        self.target.variant
    }

    /// How many scheduling steps the input's change points spread over (see [`FuzzSchedule::new`]).
    pub fn horizon(&self) -> u64 {
        self.horizon
    }

    /// Executions run so far.
    pub fn executions(&self) -> u64 {
        self.executions
    }

    /// Run one execution under `input`; its failure, if it failed.
    pub fn run(&mut self, input: &FuzzInput) -> Option<Failure> {
        self.schedule.borrow_mut().set_input(input);
        let (target, schedule) = (self.target, &self.schedule);
        let runner = self
            .runner
            .get_or_insert_with(|| start_runner(target, schedule.clone()));
        self.executions += 1;
        match runner.resume(()) {
            CoroutineResult::Yield(()) => None,
            // The adapter stops the runner after a failing execution; the next input starts
            // another.
            CoroutineResult::Return(()) => {
                self.runner = None;
                engine::take_failure()
            }
        }
    }

    /// Write the minimized trace of `input` ([`crate::minimize`]), which failed with `failure`,
    /// into `dir`, unless a trace of the same failure is there: one trace per failure signature
    /// (kind and call trace) and directory, named `<harness>-<variant>-<kind>-<hash>.json`. Under
    /// libFuzzer's `-fork=1 -ignore_crashes=1` a target crashes again and again on one bug, and
    /// the artifact of each crash replays anyway. Checking costs one look at one name; only a new
    /// signature costs the replay that records the trace and its minimization.
    pub fn save_failure_trace(
        &self,
        input: &FuzzInput,
        failure: &Failure,
        dir: &std::path::Path,
    ) -> Result<Saved, Error> {
        let stem = format!(
            "{}-{}-{}-{}",
            self.target.harness.name,
            self.target.variant.name,
            failure.kind,
            crate::trace::site_hash(failure)
        );
        // A trace already there counts only if this kgrace still reproduces it: one an older
        // model wrote (the directory outlives builds, as the nightly's does) may not replay any
        // more, and is left as it is beside a new `-2`, `-3`, ... one.
        let mut name = format!("{stem}.json");
        for k in 2.. {
            let path = dir.join(&name);
            if !path.exists() {
                break;
            }
            if self.reproduces(&path, failure.kind) {
                return Ok(Saved::existing(path));
            }
            name = format!("{stem}-{k}.json");
        }
        // Minimized like the traces of `kgrace run`; the input, kept in the trace, gives the raw
        // execution back.
        let raw = self.trace(input);
        let trace = crate::minimize::minimize_target(self.target, &raw, crate::minimize::Keep::Place)
            .map_or(raw, |m| m.trace);
        trace.save_once(dir, &name)
    }

    /// Whether the trace at `path` is of this session's target and replays to a failure of
    /// `kind` under this kgrace.
    fn reproduces(&self, path: &std::path::Path, kind: crate::FailureKind) -> bool {
        let Ok(t) = Trace::load(path) else { return false };
        if (t.harness.as_str(), t.variant.as_str()) != (self.target.harness.name, self.target.variant.name) {
            return false;
        }
        let r = exec::replay(self.target, t.decisions);
        r.divergence.is_none() && r.failure.is_some_and(|f| f.kind == kind)
    }

    /// The execution of `input` as a trace (events recorded), failing or not; the trace numbers it
    /// as the session's latest execution.
    pub fn trace(&self, input: &FuzzInput) -> Trace {
        input_trace(
            self.target,
            self.horizon,
            input,
            &input_bytes(input),
            self.executions.max(1),
        )
    }
}

/// The strategy inside a session's runner: a [`FuzzSchedule`] that waits for the next input
/// before each execution but the first.
struct Fed {
    schedule: Rc<RefCell<FuzzSchedule>>,
    yielder: *const Yielder<(), ()>,
    first: bool,
}

impl Strategy for Fed {
    fn new_execution(&mut self) -> bool {
        if !std::mem::take(&mut self.first) {
            // SAFETY: the yielder belongs to the coroutine this strategy runs in, and lives as
            // long as the coroutine's body, which owns the runner that owns this strategy.
            unsafe { (*self.yielder).suspend(()) };
        }
        self.schedule.borrow_mut().new_execution()
    }
    fn next_cpu(&mut self, runnable: &[CpuId], current: Option<CpuId>, next: NextStep) -> Option<CpuId> {
        self.schedule.borrow_mut().next_cpu(runnable, current, next)
    }
    fn next_read(&mut self, choices: usize) -> usize {
        self.schedule.borrow_mut().next_read(choices)
    }
}

/// Task stacks are shuttle's own; this one holds only the runner's frames.
const RUNNER_STACK: usize = 1 << 20;

fn start_runner(target: Target, schedule: Rc<RefCell<FuzzSchedule>>) -> Coroutine<(), (), ()> {
    let stack = DefaultStack::new(RUNNER_STACK).expect("cannot map a 1 MiB stack for the runner");
    Coroutine::with_stack(stack, move |yielder: &Yielder<(), ()>, ()| {
        let fed = Fed {
            schedule,
            yielder,
            first: true,
        };
        let (adapter, _) = Adapter::new(fed, None, None, None);
        exec::run(adapter, target);
    })
}

/// How many scheduling steps a change point spreads over: the longest of a few PCT executions of
/// the variant. A function of the build only, so that the fuzz target and `kgrace replay` decode
/// an input into the same schedule.
fn horizon(target: Target) -> u64 {
    struct Longest(Pct, Rc<Cell<u64>>);
    impl Strategy for Longest {
        fn new_execution(&mut self) -> bool {
            self.1.set(self.1.get().max(self.0.steps()));
            self.0.new_execution()
        }
        fn next_cpu(&mut self, r: &[CpuId], c: Option<CpuId>, y: NextStep) -> Option<CpuId> {
            let next = self.0.next_cpu(r, c, y);
            self.1.set(self.1.get().max(self.0.steps()));
            next
        }
        fn next_read(&mut self, choices: usize) -> usize {
            self.0.next_read(choices)
        }
    }
    let longest = Rc::new(Cell::new(0));
    let (adapter, _) = Adapter::new(Longest(Pct::new(3, 0), longest.clone()), Some(32), None, None);
    exec::run(adapter, target);
    engine::take_failure();
    longest.get()
}

/// The bytes a fuzz target reads as `input`: [`FuzzInput::decode`] of them gives `input` back.
/// libFuzzer hands a target only the decoded input, and the trace keeps these bytes.
pub fn input_bytes(input: &FuzzInput) -> Vec<u8> {
    let mut b = input.priorities.0.to_vec();
    for p in &input.change_points.0 {
        b.extend_from_slice(&p.to_be_bytes());
    }
    b
}

/// The trace of `input`, whose raw bytes are `bytes`; they go into the trace
/// ([`Trace::fuzz_input`]), so that either file reproduces the execution.
fn input_trace(target: Target, horizon: u64, input: &FuzzInput, bytes: &[u8], execution: u64) -> Trace {
    let mut schedule = FuzzSchedule::new(horizon);
    schedule.set_input(input);
    let (adapter, outcome) = Adapter::new(schedule, Some(1), None, None);
    exec::run(adapter, target);
    engine::take_failure();
    let decisions = std::mem::take(&mut outcome.borrow_mut().decisions);
    let mut trace = Trace::record(target, SchedulerSpec::FUZZ, execution, decisions);
    trace.fuzz_input = Some(crate::trace::hex(bytes));
    trace
}

/// The execution of raw fuzzer bytes (a libFuzzer artifact) on `variant` of `harness`, as a
/// trace.
/// `memory` is the memory model the target ran under (`KGRACE_FUZZ_MEMORY`; a variant that pins
/// one keeps its own).
pub fn replay_input(harness: &str, variant: &str, memory: MemoryModel, data: &[u8]) -> Result<Trace, Error> {
    replay_input_in(harness::all(), harness, variant, memory, data)
}

/// [`replay_input`], looking the harness up among `harnesses` (a binary's registry, as given to
/// [`cli::main`](crate::cli::main)).
pub fn replay_input_in(
    harnesses: &'static [Harness],
    harness: &str,
    variant: &str,
    memory: MemoryModel,
    data: &[u8],
) -> Result<Trace, Error> {
    let h = harness::find_in(harnesses, harness)?;
    let v = h.variant(variant)?;
    let target = Target {
        harness: h,
        variant: v,
        memory,
    };
    let data = &data[..data.len().min(INPUT_BYTES)];
    Ok(input_trace(
        target,
        horizon(target),
        &FuzzInput::decode(data),
        data,
        1,
    ))
}

/// Turn interleaving coverage (reads-from pairs into libFuzzer's extra counters) on or off.
pub fn set_interleaving_coverage(on: bool) {
    cover::set_enabled(on);
}

/// Clear the interleaving coverage map, for measurements outside libFuzzer (libFuzzer clears it
/// before each input).
pub fn clear_interleaving_coverage() {
    cover::clear();
}

/// Distinct reads-from pairs (counters hit) since the last clear.
pub fn interleavings_seen() -> usize {
    cover::pairs_seen()
}

thread_local! {
    static TARGET: RefCell<Option<Session>> = const { RefCell::new(None) };
}

/// The body of the fuzz target of the built-in `harness`: run `input`, and on a failure write its
/// trace, print how to replay it, and crash so that libFuzzer keeps the input as an artifact.
pub fn run_target(harness: &'static str, input: &FuzzInput) {
    run_target_in(harness::all(), harness, input)
}

/// [`run_target`] for the harness called `harness` among `harnesses`: the fuzz target of a
/// harness of your own is
///
/// ```ignore
/// libfuzzer_sys::fuzz_target!(|input: kgrace::fuzz::FuzzInput| {
///     kgrace::fuzz::run_target_in(my_models::HARNESSES, "seqlock", &input)
/// });
/// ```
pub fn run_target_in(harnesses: &'static [Harness], harness: &'static str, input: &FuzzInput) {
    TARGET.with(|t| {
        let mut t = t.borrow_mut();
        let session = t.get_or_insert_with(|| target_session(harnesses, harness));
        if let Some(failure) = session.run(input) {
            crash(session, input, &failure);
        }
    });
}

fn target_session(harnesses: &'static [Harness], harness: &str) -> Session {
    let h = harness::find_in(harnesses, harness).unwrap_or_else(|e| bad_input(&e.to_string()));
    // A binary named `<harness>--<variant>` explores that variant: ClusterFuzzLite and OSS-Fuzz run
    // binaries by name, with no way to set the environment.
    let exe = std::env::args().next().unwrap_or_default();
    let by_name = exe
        .rsplit('/')
        .next()
        .and_then(|n| n.split_once("--"))
        .map(|(_, v)| v.to_string());
    let variant = std::env::var("KGRACE_FUZZ_VARIANT")
        .ok()
        .or(by_name)
        .unwrap_or_else(|| h.default_variant().name.into());
    let rf = std::env::var("KGRACE_FUZZ_RF").map_or(true, |v| v != "0");
    set_interleaving_coverage(rf);
    let memory = match std::env::var("KGRACE_FUZZ_MEMORY") {
        Ok(m) => m
            .parse()
            .unwrap_or_else(|e: String| bad_input(&format!("KGRACE_FUZZ_MEMORY: {e}"))),
        Err(_) => MemoryModel::Sc,
    };
    let v = h.variant(&variant).unwrap_or_else(|e| bad_input(&e.to_string()));
    let s = Session::for_variant(h, v, memory);
    eprintln!(
        "kgrace: fuzzing {} [{}] under {} (expected: {}), interleaving coverage {}; \
         KGRACE_FUZZ_VARIANT picks another variant, KGRACE_FUZZ_MEMORY=lkmm weak memory",
        s.target.harness.name,
        s.target.variant.name,
        s.target.memory(),
        s.target.variant.expected,
        if rf { "on" } else { "off (KGRACE_FUZZ_RF=0)" },
    );
    s
}

fn bad_input(msg: &str) -> ! {
    eprintln!("kgrace: {msg}");
    std::process::exit(2)
}

/// Where a fuzz target writes kgrace traces: `traces/` inside libFuzzer's artifact directory
/// (`-artifact_prefix=`, which cargo-fuzz always passes), else `traces/` in the working directory.
/// Not the artifact directory itself: cargo-fuzz offers every new file there as a failing input
/// ("Reproduce with: cargo fuzz run TARGET FILE"), and a trace is no input of the target.
fn trace_dir() -> PathBuf {
    // The last one counts, as for libFuzzer: cargo-fuzz passes its own before the user's.
    let prefix = std::env::args()
        .rev()
        .find_map(|a| a.strip_prefix("-artifact_prefix=").map(String::from));
    let artifacts = match prefix {
        Some(p) if p.ends_with('/') => PathBuf::from(p),
        Some(p) => PathBuf::from(p)
            .parent()
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(".")),
        None => return PathBuf::from("traces"),
    };
    artifacts.join("traces")
}

/// The bytes of a raw input the fuzz targets read: later bytes are ignored (see [`FuzzInput`]),
/// so `kgrace replay` reads no more of an artifact.
pub const INPUT_BYTES: usize = std::mem::size_of::<Priorities>() + 2 * crate::sched::MAX_CHANGE_POINTS;

/// `path` relative to the working directory when it is inside it, as cargo-fuzz prints paths.
fn relative(path: &std::path::Path) -> PathBuf {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(PathBuf::from))
        .unwrap_or_else(|| path.to_path_buf())
}

/// An error and its causes on one line, each said once.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cause = c.source();
    }
    s
}

fn crash(session: &Session, input: &FuzzInput, failure: &Failure) -> ! {
    let (h, v) = (session.target.harness, session.target.variant);
    let rule = "─".repeat(80);
    eprintln!(
        "\n{rule}\nkgrace: {} [{}] failed ({}) in execution {} of this process:\n{}",
        h.name, v.name, failure.kind, session.executions, failure.message
    );
    let dir = trace_dir();
    let saved = session.save_failure_trace(input, failure, &dir);
    // A harness of your own replays through the binary that declares it, whose name kgrace
    // cannot know.
    let bin = if session.builtin {
        "cargo run --release --"
    } else {
        eprintln!(
            "kgrace: `{}` is not a built-in harness: BINARY below is the binary whose main declares \
             it (kgrace::cli::main), such as `cargo run --release --example {} --`",
            h.name, h.name
        );
        "BINARY"
    };
    let replay = |p: &std::path::Path| format!("{bin} replay {}", relative(p).display());
    let mut flags = String::new();
    if v.name != h.default_variant().name {
        flags.push_str(&format!(" --variant {}", v.name));
    }
    if session.target.memory != MemoryModel::Sc {
        flags.push_str(&format!(" --memory {}", session.target.memory));
    }
    match saved {
        Ok(s) if !s.existed => eprintln!(
            "kgrace trace written to {}\nreplay it: {}",
            relative(&s.path).display(),
            replay(&s.path)
        ),
        Ok(s) => eprintln!(
            "kgrace: a trace of this failure ({} in {}) is already in {}, and is left as it is\n\
             replay it: {}",
            failure.kind,
            failure.call_trace.first().map_or("the harness", String::as_str),
            relative(&s.path).display(),
            replay(&s.path)
        ),
        Err(e) => eprintln!("kgrace: no trace written: {}", chain(&e)),
    }
    eprintln!(
        "libFuzzer's crash-* artifact of this input replays too: {bin} replay{flags} \
         ARTIFACT\n{rule}"
    );
    // libFuzzer turns SIGABRT into a crash artifact. A panic would too, but through shuttle's panic
    // hook, which prints a misleading "test panicked in task" outside any execution.
    std::process::abort()
}
