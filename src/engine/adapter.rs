//! The shuttle `Scheduler` that hands every decision to a [`Strategy`], records it, and ends the
//! exploration on the first failure or when the budget runs out.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use shuttle_engine::runtime::task::{Task, TaskId};
use shuttle_engine::scheduler::{Schedule, Scheduler};

use crate::sched::{CpuId, Decision, NextStep, Strategy};

/// What the exploration learned, shared with the caller of `Runner::run` (which consumes the
/// scheduler).
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    /// Executions started.
    pub executions: u64,
    /// Decisions of the latest execution: the failing one when `failed`.
    pub decisions: Vec<Decision>,
    /// The latest execution failed and the exploration stopped there.
    pub failed: bool,
}

pub(crate) type Progress = Box<dyn FnMut(u64)>;

pub(crate) struct Adapter<S: Strategy> {
    strategy: S,
    max_executions: Option<u64>,
    deadline: Option<Instant>,
    outcome: Rc<RefCell<Outcome>>,
    progress: Option<Progress>,
    /// Reused for every decision: the runnable CPUs.
    runnable: Vec<CpuId>,
    started: bool,
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
        };
        (a, outcome)
    }
}

impl<S: Strategy> Scheduler for Adapter<S> {
    fn new_execution(&mut self) -> Option<Schedule> {
        let mut out = self.outcome.borrow_mut();
        if self.started && super::failed() {
            out.failed = true;
            return None;
        }
        self.started = true;
        if self.max_executions.is_some_and(|m| out.executions >= m) {
            return None;
        }
        if out.executions % PROGRESS_EVERY == 0 && out.executions > 0 {
            if self.deadline.is_some_and(|d| Instant::now() >= d) {
                return None;
            }
            if let Some(p) = self.progress.as_mut() {
                p(out.executions);
            }
        }
        out.executions += 1;
        out.decisions.clear();
        // The previous execution's failure is handled; the new one starts clean (its first
        // decision, the choice of CPU0, comes before the harness resets the model).
        super::clear_failed();
        self.strategy.new_execution();
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
        let v = self.strategy.next_u64();
        self.outcome
            .borrow_mut()
            .decisions
            .push(Decision::Value { value: v });
        v
    }
}
