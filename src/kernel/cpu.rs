//! CPUs (each runs one kernel thread of the harness), tasks, sleeping and waking.

use std::panic::Location;

use super::mem::Value;
use crate::engine;

/// A spawned CPU, to [`join`](CpuHandle::join).
#[derive(Debug)]
pub struct CpuHandle {
    id: usize,
    /// `None` when the CPU could not be spawned (the execution has failed already).
    handle: Option<engine::JoinHandle>,
}

/// Start a CPU running `f`. CPUs are numbered in spawn order from 1 (CPU0 sets the harness up);
/// traces print them as `CPU1 name`.
#[track_caller]
pub fn spawn_cpu(name: &'static str, f: impl FnOnce() + Send + 'static) -> CpuHandle {
    let Some(id) = engine::register_cpu(name) else {
        // One CPU too many: the execution has failed, with a report saying so; nothing runs `f`.
        return CpuHandle {
            id: usize::MAX,
            handle: None,
        };
    };
    let handle = engine::spawn(move || {
        assert_eq!(
            engine::me(),
            id,
            "CPUs must be spawned only through kgrace::kernel::spawn_cpu"
        );
        engine::cpu_started(id);
        f();
        engine::cpu_finished(id);
    });
    CpuHandle {
        id,
        handle: Some(handle),
    }
}

impl CpuHandle {
    /// Wait for the CPU to finish: everything it did happens-before what follows.
    pub fn join(self) {
        let Some(handle) = self.handle else {
            return;
        };
        engine::before_join(self.id);
        handle.join();
        engine::after_join(self.id);
    }

    /// The CPU's index (`usize::MAX` for a CPU past the limit, which was never spawned).
    pub fn id(&self) -> usize {
        self.id
    }
}

/// A `struct task_struct *`: the task running on a CPU. Never NULL when valid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Task(pub usize);

impl Task {
    /// A NULL `struct task_struct *` (the word 0).
    pub const NULL: Task = Task(usize::MAX);

    /// Whether this is NULL.
    pub fn is_null(self) -> bool {
        self == Task::NULL
    }
}

impl Value for Task {
    fn to_word(self) -> u64 {
        // NULL (`usize::MAX`) wraps to the word 0.
        (self.0 as u64).wrapping_add(1)
    }
    fn from_word(w: u64) -> Self {
        Task((w as usize).wrapping_sub(1))
    }
}

/// `current`.
pub fn current() -> Task {
    Task(engine::me())
}

/// `set_current_state(TASK_UNINTERRUPTIBLE)`.
pub fn set_current_state_uninterruptible() {
    engine::set_sleeping()
}

/// `__set_current_state(TASK_RUNNING)`: the task decided not to sleep after all.
pub fn set_current_state_running() {
    engine::set_running()
}

/// `schedule()`: sleep until a [`wake_up_process`] unless one came since the task state was set.
#[track_caller]
pub fn schedule() {
    engine::schedule_sleep(Location::caller())
}

/// `wake_up_process(task)`.
#[track_caller]
pub fn wake_up_process(task: Task) {
    engine::wake_up_process(task.0, Location::caller())
}

/// Whether `task` is running on its CPU (`owner->on_cpu`): not asleep in `schedule()` and, under
/// `CONFIG_PREEMPT` ([`Config::preempt`](crate::harness::Config)), not preempted.
///
/// A CPU of the model runs one task, and a task the scheduler does not pick is only slow, never
/// off its CPU. Preemption is therefore a decision of the search, made where it can be seen: a
/// running task is found preempted or not, each time another CPU asks (two choices, recorded as
/// a read decision). Preemption-disabled regions of `task` are not tracked, so it may be found
/// preempted where the kernel could not preempt it; the only reader, an optimistic spinner, may
/// stop spinning at any time in the kernel anyway (`need_resched()`), so this adds no execution
/// the kernel lacks. Without `CONFIG_PREEMPT` kernel code leaves its CPU only by sleeping.
pub fn task_on_cpu(task: Task) -> bool {
    if !engine::on_cpu(task.0) {
        return false;
    }
    !engine::config().preempt || engine::runtime::choose_read(2) == 0
}

/// `cpu_relax()` in a spin loop: a scheduling point that tells the scheduler this CPU is waiting
/// for another.
pub fn cpu_relax() {
    engine::spin_point()
}

/// Marks the span of a kernel function, so that events and failures name it
/// (`use-after-free in mutex_unlock`).
#[derive(Debug)]
pub struct KFunc(());

impl KFunc {
    /// Enter the function called `name`; leaving happens when the guard drops.
    pub fn enter(name: &'static str) -> KFunc {
        engine::enter(name);
        KFunc(())
    }
}

impl Drop for KFunc {
    fn drop(&mut self) {
        engine::leave();
    }
}

/// `BUG_ON(cond)`: fail the execution with `what` when `cond` holds.
#[track_caller]
pub fn bug_on(cond: bool, what: &str) {
    if cond {
        engine::oracle_failure(crate::FailureKind::Bug, what, Location::caller());
    }
}

/// `WARN_ON(cond)`: for kgrace a warning is as much a failure as a BUG.
#[track_caller]
pub fn warn_on(cond: bool, what: &str) -> bool {
    if cond {
        engine::oracle_failure(crate::FailureKind::Bug, what, Location::caller());
    }
    cond
}
