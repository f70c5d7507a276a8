//! Everything that talks to shuttle, in one file: which task runs, task switches, blocking, the
//! scheduler adapter that hands every decision to a [`Strategy`], and the runner.
//!
//! Shuttle runs every task of an execution as a continuation on the calling OS thread; kgrace
//! uses its task machinery and its `Scheduler` hook, nothing of its own synchronization
//! primitives.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use shuttle::{Config as ShuttleConfig, FailurePersistence, MaxSteps, Runner};
use shuttle_engine::runtime::execution::ExecutionState;
use shuttle_engine::runtime::task::{Task, TaskId};
use shuttle_engine::scheduler::{Schedule, Scheduler};

use crate::sched::{CpuId, Decision, NextStep, Strategy};

thread_local! {
    /// The number of stores the load being decided may read; set just before the engine asks
    /// shuttle for a value, which shuttle asks the adapter for.
    static READ_CHOICES: Cell<usize> = const { Cell::new(0) };
}

/// The shuttle task id of the running CPU (CPU0 is the harness's setup thread).
#[inline]
pub(crate) fn me() -> usize {
    usize::from(shuttle_engine::current::me())
}

/// A scheduling point: the scheduler may switch to another CPU here.
#[inline]
pub(crate) fn switch() {
    shuttle_engine::runtime::thread::continuation::switch();
}

/// A scheduling point that tells the scheduler the CPU is spinning (`cpu_relax`): PCT
/// deprioritizes it. A spinning CPU sees every store so far when it resumes (see `lkmm`).
pub(crate) fn spin_point() {
    let cpu = me();
    super::with(|m| {
        if let Some(w) = m.mem.lkmm() {
            w.catch_up(cpu);
        }
    });
    shuttle::thread::yield_now();
}

/// Block the running task until [`unblock`] and switch away.
pub(crate) fn block_current() {
    ExecutionState::with(|s| s.current_mut().block(false));
    switch();
}

/// Let the task of CPU `cpu` run again.
pub(crate) fn unblock(cpu: usize) {
    ExecutionState::with(|s| s.get_mut(TaskId::from(cpu)).unblock());
}

/// Which of `n` stores the current load reads (0: the newest), decided by the strategy.
pub(crate) fn choose_read(n: usize) -> usize {
    READ_CHOICES.with(|c| c.set(n));
    // The adapter clamps the strategy's answer to `0..n` before recording it.
    ExecutionState::next_u64() as usize
}

/// A spawned CPU's task.
#[derive(Debug)]
pub(crate) struct JoinHandle(shuttle::thread::JoinHandle<()>);

/// Start a task for a CPU registered with [`super::register_cpu`].
pub(crate) fn spawn(f: impl FnOnce() + Send + 'static) -> JoinHandle {
    super::spawn_point();
    JoinHandle(shuttle::thread::spawn(f))
}

impl JoinHandle {
    pub(crate) fn join(self) {
        // A CPU whose harness code panicked has failed the execution already; shuttle reports it.
        let _ = self.0.join();
    }
}

/// What the exploration learned, shared with the caller of [`run`] (which consumes the adapter).
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    /// Executions started.
    pub executions: u64,
    /// Decisions of the latest execution: the failing one when `failed`.
    pub decisions: Vec<Decision>,
    /// The latest execution failed and the exploration stopped there.
    pub failed: bool,
    /// The strategy ran out of executions to try: the space was explored exhaustively.
    pub exhausted: bool,
}

/// The first failure of a parallel exploration, in a fixed order of all workers' executions:
/// execution `e` of worker `w` comes before execution `e'` of worker `w'` when `(e, w) < (e', w')`.
/// Each worker's executions are a deterministic stream, so the first failure in this order is
/// the same whatever the threads' timing: a worker goes on until its next execution comes after
/// the best failure found so far, and the one reported is the first in the order.
#[derive(Debug)]
pub(crate) struct FirstFailure {
    /// Invariant: `e * MAX_WORKERS + w` of the first failure found so far, `u64::MAX` for none.
    best: AtomicU64,
}

impl FirstFailure {
    /// Workers at most.
    pub const MAX_WORKERS: u64 = 1 << 16;

    pub fn new() -> Self {
        FirstFailure {
            best: AtomicU64::new(u64::MAX),
        }
    }

    fn key(execution: u64, worker: u64) -> u64 {
        execution.saturating_mul(Self::MAX_WORKERS).saturating_add(worker)
    }

    /// Worker `worker` failed in its execution `execution` (1-based).
    pub fn found(&self, execution: u64, worker: u64) {
        self.best
            .fetch_min(Self::key(execution, worker), Ordering::Relaxed);
    }

    /// Whether a failure found so far comes before execution `execution` of `worker`.
    pub fn is_before(&self, execution: u64, worker: u64) -> bool {
        self.best.load(Ordering::Relaxed) < Self::key(execution, worker)
    }

    /// The first failure: `(execution, worker)`.
    pub fn first(&self) -> Option<(u64, u64)> {
        let b = self.best.load(Ordering::Relaxed);
        (b != u64::MAX).then_some((b / Self::MAX_WORKERS, b % Self::MAX_WORKERS))
    }
}

/// Called with the number of executions so far, every few hundred executions.
pub(crate) type Progress = Box<dyn FnMut(u64)>;

/// The shuttle `Scheduler` that hands every decision to a [`Strategy`], records it, and ends the
/// exploration on the first failure or when the budget runs out.
pub(crate) struct Adapter<S: Strategy> {
    strategy: S,
    max_executions: Option<u64>,
    deadline: Option<Instant>,
    outcome: Rc<RefCell<Outcome>>,
    progress: Option<Progress>,
    /// Reused for every decision: the runnable CPUs.
    runnable: Vec<CpuId>,
    started: bool,
    /// Go on to the next execution after a failing one (litmus tests: a deadlocked execution is
    /// one herd7 does not count) instead of ending the exploration.
    keep_going: bool,
    /// In a parallel exploration: the shared first failure, and this worker's number.
    stop: Option<(Arc<FirstFailure>, u64)>,
}

impl<S: Strategy> std::fmt::Debug for Adapter<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Adapter")
            .field("max_executions", &self.max_executions)
            .finish()
    }
}

/// How often (in executions) the progress callback and the clock are consulted.
const PROGRESS_EVERY: u64 = 256;

impl<S: Strategy> Adapter<S> {
    pub fn new(
        strategy: S,
        max_executions: Option<u64>,
        time: Option<Duration>,
        progress: Option<Progress>,
    ) -> (Self, Rc<RefCell<Outcome>>) {
        let outcome = Rc::new(RefCell::new(Outcome {
            decisions: Vec::with_capacity(512),
            ..Outcome::default()
        }));
        let a = Adapter {
            strategy,
            max_executions,
            deadline: time.map(|t| Instant::now() + t),
            outcome: outcome.clone(),
            progress,
            runnable: Vec::with_capacity(8),
            started: false,
            keep_going: false,
            stop: None,
        };
        (a, outcome)
    }

    /// As worker `.1` of a parallel exploration: end before an execution that comes after the
    /// first failure found so far ([`FirstFailure`]).
    pub fn stop_when(mut self, stop: Option<(Arc<FirstFailure>, u64)>) -> Self {
        self.stop = stop;
        self
    }

    /// Do not stop at a failing execution; [`Outcome::failed`] stays false.
    pub fn keep_going(mut self) -> Self {
        self.keep_going = true;
        self
    }
}

impl<S: Strategy> Scheduler for Adapter<S> {
    fn new_execution(&mut self) -> Option<Schedule> {
        let mut out = self.outcome.borrow_mut();
        if self.started && super::failed() && !self.keep_going {
            out.failed = true;
            return None;
        }
        self.started = true;
        if self.max_executions.is_some_and(|m| out.executions >= m) {
            return None;
        }
        if let Some((first, worker)) = &self.stop {
            if first.is_before(out.executions + 1, *worker) {
                return None;
            }
        }
        if out.executions % PROGRESS_EVERY == 0 && out.executions > 0 {
            if self.deadline.is_some_and(|d| Instant::now() >= d) {
                return None;
            }
            if let Some(p) = self.progress.as_mut() {
                p(out.executions);
            }
        }
        // The previous execution's failure is handled; the new one starts clean (its first
        // decision, the choice of CPU0, comes before the harness resets the model).
        super::clear_failed();
        if !self.strategy.new_execution() {
            out.exhausted = true;
            return None;
        }
        out.executions += 1;
        out.decisions.clear();
        Some(Schedule::new(0))
    }

    fn next_task(
        &mut self,
        runnable: &[&Task],
        current: Option<TaskId>,
        is_yielding: bool,
    ) -> Option<TaskId> {
        if super::failed() {
            return None;
        }
        self.runnable.clear();
        self.runnable.extend(runnable.iter().map(|t| usize::from(t.id())));
        let cur = current.map(usize::from);
        let next = if is_yielding {
            NextStep::Spin
        } else {
            super::take_next_step()
        };
        let c = self.strategy.next_cpu(&self.runnable, cur, next)?;
        self.outcome.borrow_mut().decisions.push(Decision::Cpu(c));
        Some(TaskId::from(c))
    }

    fn next_u64(&mut self) -> u64 {
        let n = READ_CHOICES.with(|c| c.replace(0));
        if n == 0 {
            // Shuttle's own randomness (unused by the model): no decision of the execution.
            return 0;
        }
        let k = self.strategy.next_read(n).min(n - 1);
        self.outcome
            .borrow_mut()
            .decisions
            .push(Decision::Read { read: k as u32 });
        k as u64
    }
}

/// Run executions of `body` (CPU0 of each) under the adapter until it says stop.
pub(crate) fn run<S: Strategy + 'static>(adapter: Adapter<S>, body: impl Fn() + Send + Sync + 'static) {
    let mut config = ShuttleConfig::new();
    config.failure_persistence = FailurePersistence::None;
    config.silence_warnings = true;
    // kgrace bounds executions in model steps and reports livelock itself.
    config.max_steps = MaxSteps::None;
    let runner = Runner::new(adapter, config);
    runner.run(body);
}
