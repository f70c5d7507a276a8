//! Running executions of a harness variant: the one piece of code that exploration
//! ([`crate::explore`]), replay ([`crate::trace`]) and fuzzing ([`crate::fuzz`]) all call.
//!
//! It depends on the engine, the harness registry and the strategies, and on nothing that calls
//! it: traces are built from what it returns.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use crate::config::MemoryModel;
pub(crate) use crate::engine::runtime::FirstFailure;
use crate::engine::runtime::{self, Adapter, Outcome, Progress};
use crate::engine::{self, Event, Timeline};
use crate::failure::Failure;
use crate::harness::{self, Harness, Variant};
use crate::sched::{CpuId, Decision, Divergence, NextStep, Replay, Strategy};

/// What to run: a harness variant under a memory model.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Target {
    pub harness: &'static Harness,
    pub variant: &'static Variant,
    /// The run's memory model (a variant that pins one runs under its own: [`Target::memory`]).
    pub memory: MemoryModel,
}

impl Target {
    /// The memory model executions of this target actually run under.
    pub fn memory(&self) -> MemoryModel {
        self.variant.config.memory_for(self.memory)
    }
}

/// How long to run.
#[derive(Clone, Debug, Default)]
pub(crate) struct Limits {
    pub executions: Option<u64>,
    pub time: Option<Duration>,
    /// In a parallel exploration: the first failure of all workers, and this worker's number.
    pub stop: Option<(Arc<FirstFailure>, u64)>,
}

/// The result of [`explore`]: the outcome and the failure of its last execution, if it failed.
pub(crate) struct Explored {
    pub outcome: Outcome,
    pub failure: Option<Failure>,
}

/// Run executions of `target` under `strategy` until one fails, the limits are reached, or the
/// strategy has nothing left to try.
pub(crate) fn explore<S: Strategy + 'static>(
    target: Target,
    strategy: S,
    limits: Limits,
    progress: Option<Progress>,
) -> Explored {
    let (adapter, outcome) = Adapter::new(strategy, limits.executions, limits.time, progress);
    run(adapter.stop_when(limits.stop), target);
    // A guided strategy turned its feedback on: the next exploration on this thread may not.
    engine::cover::stop_feedback();
    let outcome = std::mem::take(&mut *outcome.borrow_mut());
    let failure = if outcome.failed {
        engine::take_failure()
    } else {
        // A strategy that abandoned a failing execution leaves its failure behind: drop it.
        engine::take_failure();
        None
    };
    Explored { outcome, failure }
}

/// Run executions of `target` under an adapter the caller built (the fuzzer keeps one runner
/// alive across inputs).
pub(crate) fn run<S: Strategy + 'static>(adapter: Adapter<S>, target: Target) {
    let Target {
        harness,
        variant,
        memory,
    } = target;
    runtime::run(adapter, move || harness::execute(harness, variant, memory));
}

/// A strategy the caller keeps a handle on, to ask it afterwards what it saw.
struct Shared<S>(Rc<RefCell<S>>);

impl<S: Strategy> Strategy for Shared<S> {
    fn new_execution(&mut self) -> bool {
        self.0.borrow_mut().new_execution()
    }
    fn next_cpu(&mut self, r: &[CpuId], c: Option<CpuId>, y: NextStep) -> Option<CpuId> {
        self.0.borrow_mut().next_cpu(r, c, y)
    }
    fn next_read(&mut self, choices: usize) -> usize {
        self.0.borrow_mut().next_read(choices)
    }
}

/// One execution of `target` under `strategy`, with events recorded: the decisions it took, its
/// failure and its events. The caller keeps `strategy`, to ask it what it saw.
pub(crate) fn run_recorded<S: Strategy + 'static>(
    target: Target,
    strategy: Rc<RefCell<S>>,
) -> (Vec<Decision>, Option<Failure>, Vec<Event>) {
    engine::set_recording(true);
    let (adapter, outcome) = Adapter::new(Shared(strategy), Some(1), None, None);
    run(adapter, target);
    engine::set_recording(false);
    let failure = engine::take_failure();
    let events = engine::take_events();
    engine::take_timeline();
    let decisions = std::mem::take(&mut outcome.borrow_mut().decisions);
    (decisions, failure, events)
}

/// How a replay ended.
#[derive(Clone, Debug)]
pub struct ReplayResult {
    /// The events of the replayed execution.
    pub events: Vec<Event>,
    /// Its failure.
    pub failure: Option<Failure>,
    /// Where it left the recorded decisions, if it did.
    pub divergence: Option<Divergence>,
    /// Decisions left over after a failure stopped the execution (0 when it used them all).
    pub unused: usize,
    /// Function entries and exits, and which store each read read: for the timeline view.
    pub timeline: Timeline,
}

/// Run one execution of `target` under recorded `decisions`, with events recorded.
pub(crate) fn replay(target: Target, decisions: Vec<Decision>) -> ReplayResult {
    let Target {
        harness,
        variant,
        memory,
    } = target;
    replay_body(decisions, move || harness::execute(harness, variant, memory))
}

/// Run one execution of `body` (CPU0) under recorded `decisions`, with events recorded.
pub(crate) fn replay_body(decisions: Vec<Decision>, body: impl Fn() + Send + Sync + 'static) -> ReplayResult {
    let n = decisions.len();
    let replay = Rc::new(RefCell::new(Replay::new(decisions)));
    engine::set_recording(true);
    let (adapter, _outcome) = Adapter::new(Shared(replay.clone()), Some(1), None, None);
    runtime::run(adapter, body);
    engine::set_recording(false);
    let failure = engine::take_failure();
    let events = engine::take_events();
    let timeline = engine::take_timeline();
    let mut rp = replay.borrow_mut();
    // A failure stops the execution early on purpose: only a clean end must use every decision.
    let divergence = if failure.is_some() {
        rp.divergence().cloned()
    } else {
        rp.finish().cloned()
    };
    // Left over after the failure: `finish` says where the execution stopped using them.
    let unused = match divergence {
        None => rp.finish().map_or(0, |d| n - d.decision),
        Some(_) => 0,
    };
    ReplayResult {
        events,
        failure,
        divergence,
        unused,
        timeline,
    }
}
