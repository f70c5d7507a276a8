//! The private engine: the state of one execution and the operations kernel code performs on it.
//!
//! One file a concern:
//! * [`memory`]: every access and fence, behind the memory-model seam ([`MemoryModel`]): `sc`
//!   (every load reads the newest store) and `lkmm` (a view-based machine in which a load may
//!   read an older store, [`memory::lkmm`]);
//! * [`race`]: the data-race detector (KCSAN's rule over vector-clock happens-before);
//! * [`heap`]: objects, allocation, `kfree`, use-after-free and leaks;
//! * [`task`]: CPUs, sleep and wake, blocking, join, deadlock;
//! * [`rcu`]: RCU's guarantee and the SRCU grace-period oracle;
//! * [`runtime`]: the only file that talks to shuttle (task switches, the scheduler adapter, the
//!   runner).
//!
//! All state of one execution lives in a thread-local [`Model`]. Shuttle runs every task of an
//! execution as a continuation on the one OS thread that called `Runner::run`, so a thread-local
//! is shared by the CPUs of an execution and by the scheduler adapter, and needs no locking. The
//! model is reset, not reallocated, at the start of each execution: its vectors keep their
//! capacity, so the hot path (one access) allocates nothing.

pub(crate) mod cover;
pub(crate) mod heap;
pub(crate) mod memory;
pub(crate) mod near;
pub(crate) mod race;
pub(crate) mod rcu;
pub(crate) mod runtime;
pub(crate) mod task;
pub(crate) mod vclock;

use std::cell::{Cell, RefCell};
use std::panic::Location;

use crate::config::{Config, MemoryModel};
use crate::failure::{Failure, FailureKind};
use crate::kernel::Layout;
use crate::sched::NextStep;

pub(crate) use heap::{alloc, check_leaks, free, free_stack, generation, not_leak, ObjKind};
pub(crate) use memory::{
    access, bound_plain, bounded_plain_seen, fence, final_value, hoist, next_store_hidden, Fence, Kind,
};
pub(crate) use runtime::{choose_read, me, spawn, spin_point, JoinHandle};
pub(crate) use task::{
    after_join, before_join, block_on, cpu_finished, cpu_started, nr_cpus, on_cpu, register_cpu,
    schedule_sleep, set_running, set_sleeping, wait_for_write, wake_up_process, wake_word, Blocked, LoadDep,
};
pub(crate) use vclock::MAX_CPUS;

/// Upper bound on modeled operations in one execution: a run that makes no progress is reported as
/// a livelock instead of spinning forever.
pub(crate) const MAX_STEPS: u64 = 20_000;

/// The address bits that select a slot inside an object.
pub(crate) const SLOT_BITS: u32 = 16;

/// One modeled operation of an execution, as a trace shows it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Event {
    /// Model step (1-based).
    pub step: u64,
    /// CPU index.
    pub cpu: u32,
    /// CPU label, `CPU1 hmm_notifier_release`.
    pub cpu_name: String,
    /// Innermost kernel function (`mutex_unlock`), empty in harness code.
    pub func: String,
    /// The operation (`atomic_inc_return`, `load`, `kfree`, ...).
    pub op: String,
    /// The location accessed, `hmm_device#1.mutex.count`; empty if none.
    pub location: String,
    /// The value read, if the operation read.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub read: Option<u64>,
    /// The value written, if the operation wrote.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub wrote: Option<u64>,
    /// Under the `lkmm` memory model, a load that read an older store than the newest one.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub stale: Option<StaleRead>,
    /// The harness source line that led to it.
    pub source: String,
}

/// What the timeline of a recorded execution (`kgrace replay --perfetto`) needs beyond its
/// events: when each CPU entered and left each kernel function, and which store each read read.
/// Recorded only with the events, and not part of a trace file: a replay recomputes it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Timeline {
    /// Function entries and exits in order: after the event of step `step` (0: before the
    /// first), CPU `cpu` entered `Some(function)` or left its innermost one (`None`).
    pub calls: Vec<Call>,
    /// For each access that read memory, in order: the step of that access and the step of the
    /// store it read (the allocation or definition of the object for its initial value).
    pub reads_from: Vec<(u64, u64)>,
}

/// A kernel function entered or left: see [`Timeline::calls`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Call {
    /// The step after which it happened.
    pub step: u64,
    /// The CPU.
    pub cpu: u32,
    /// The function entered, or `None` for a return from the innermost one.
    pub entered: Option<&'static str>,
}

/// A load that did not read the newest store of its location (`lkmm` only).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StaleRead {
    /// The step of the store it read (0: the location's initial value).
    pub read_from_step: u64,
    /// The newest store of the location when the load ran: its step and value.
    pub newest_step: u64,
    /// The value of that newest store.
    pub newest_value: u64,
}

/// The state of one execution.
#[derive(Debug, Default)]
pub(crate) struct Model {
    /// Modeled operations so far; every event and failure is numbered by it.
    step: u64,
    cpus: Vec<task::Cpu>,
    heap: heap::Heap,
    mem: memory::Memory,
    race: race::Race,
    failure: Option<Failure>,
    /// `Some` only when replaying for a trace: exploration records nothing.
    events: Option<Vec<Event>>,
    /// What a timeline needs beyond the events, recorded alongside them.
    timeline: Timeline,
    config: Config,
    /// CPUs blocked on [`Blocked::OnObject`]: writes check for waiters only when non-zero.
    object_waiters: u32,
    /// RCU's global state; see [`rcu`].
    rcu: rcu::RcuState,
    /// Address dependencies are declared per access ([`next_access_dependent`]) instead of
    /// inferred per object.
    explicit_deps: bool,
    /// The guided strategy's near misses; kept across executions (not reset).
    near: near::Tracker,
    /// [`cover::feedback`] as of the start of the execution: a strategy turns it on or off only
    /// between executions, and every access asks, so it is read once here, not per access.
    feedback: bool,
}

thread_local! {
    static MODEL: RefCell<Model> = RefCell::new(Model::default());
    /// Mirrors `Model::failure.is_some()`, read by the scheduler adapter on every decision.
    static FAILED: Cell<bool> = const { Cell::new(false) };
    /// Whether the next execution records events.
    static RECORD: Cell<bool> = const { Cell::new(false) };
    /// What the running CPU does at the scheduling point it is about to reach; read (and reset to
    /// `Shared`) by the adapter.
    static NEXT_STEP: Cell<NextStep> = const { Cell::new(NextStep::SHARED) };
}

/// The hint for the scheduling point being decided; the next one is `Shared` unless its
/// operation says otherwise.
pub(crate) fn take_next_step() -> NextStep {
    NEXT_STEP.with(|n| n.replace(NextStep::SHARED))
}

/// The scheduling point shuttle makes when a CPU is spawned ([`NextStep::Spawn`]).
pub(crate) fn spawn_point() {
    NEXT_STEP.with(|n| n.set(NextStep::Spawn));
}

/// A scheduling point for a step no other CPU can observe (see [`NextStep::Local`]).
#[inline]
fn local_point() {
    NEXT_STEP.with(|n| n.set(NextStep::Local));
    runtime::switch();
}

/// The scheduling point before `cpu` operates on object `obj`: local if no other CPU has touched
/// the object (or can reach it: see [`heap::Heap::escape`]), shared otherwise, and for bad
/// addresses.
///
/// Why "local" is sound under both memory models: an object no other CPU can reach yet can only
/// be read by them after a store publishes its address (or a spawn hands it over), and both the
/// interleaving and the `lkmm` views order every earlier step on it before that publication.
#[inline]
fn point_on(obj: usize, cpu: usize) {
    if with(|m| m.heap.shared_with_others(obj, cpu)) {
        NEXT_STEP.with(|n| n.set(NextStep::Shared { object: obj as u32 }));
        runtime::switch();
    } else {
        local_point();
    }
}

#[inline]
pub(crate) fn with<R>(f: impl FnOnce(&mut Model) -> R) -> R {
    MODEL.with(|m| f(&mut m.borrow_mut()))
}

pub(crate) fn failed() -> bool {
    FAILED.with(|f| f.get())
}

pub(crate) fn clear_failed() {
    FAILED.with(|f| f.set(false));
}

pub(crate) fn set_recording(on: bool) {
    RECORD.with(|r| r.set(on));
}

/// The failure of the last execution, if any.
pub(crate) fn take_failure() -> Option<Failure> {
    with(|m| m.failure.take())
}

pub(crate) fn take_events() -> Vec<Event> {
    with(|m| m.events.take().unwrap_or_default())
}

/// The timeline of the last recorded execution (empty unless it recorded events).
pub(crate) fn take_timeline() -> Timeline {
    with(|m| std::mem::take(&mut m.timeline))
}

/// Start a fresh execution on CPU0. Called first thing in every execution.
pub(crate) fn reset(config: Config, memory: MemoryModel) {
    let record = RECORD.with(|r| r.get());
    FAILED.with(|f| f.set(false));
    with(|m| {
        m.step = 0;
        m.cpus.clear();
        m.heap.reset();
        m.mem.reset(memory);
        m.race.reset();
        m.failure = None;
        m.config = config;
        m.object_waiters = 0;
        m.rcu.reset();
        vclock::reset();
        m.explicit_deps = false;
        m.feedback = cover::feedback();
        m.events = if record {
            Some(Vec::with_capacity(256))
        } else {
            None
        };
        m.timeline = Timeline::default();
        let mut cpu0 = task::Cpu::new("setup");
        cpu0.vc.set(0, 1);
        m.cpus.push(cpu0);
    });
}

/// For this execution, an access depends on an earlier load only when the caller says so with
/// [`next_access_dependent`] (litmus tests, whose interpreter knows which addresses were computed
/// from loaded values). Otherwise every access by a CPU to an object it loaded a pointer to
/// depends on that load.
pub(crate) fn explicit_dependencies() {
    with(|m| m.explicit_deps = true);
}

/// Whether the running CPU's next access has an address computed from a loaded value.
pub(crate) fn next_access_dependent(dep: bool) {
    let cpu = me();
    with(|m| m.cpus[cpu].dep_next = dep);
}

/// What the running CPU's latest load read (with [`explicit_dependencies`]; otherwise nothing).
pub(crate) fn last_load() -> LoadDep {
    let cpu = me();
    with(|m| m.cpus[cpu].last_load)
}

/// The value of the running CPU's next store was computed from loads that carried `data` (with
/// [`explicit_dependencies`]): the store carries it on.
pub(crate) fn next_store_data(data: LoadDep) {
    let cpu = me();
    with(|m| m.cpus[cpu].data_next = Some(data));
}

/// For this execution, note data races ([`races_noted`]) instead of failing on the first.
pub(crate) fn note_races_only() {
    with(|m| m.race.note_only = true);
}

/// Whether this execution had a data race, in [`note_races_only`] mode.
pub(crate) fn races_noted() -> bool {
    with(|m| m.race.noted)
}

pub(crate) fn config() -> Config {
    with(|m| m.config)
}

impl Model {
    fn cpu_label(&self, cpu: usize) -> String {
        format!("CPU{} {}", cpu, self.cpus.get(cpu).map(|c| c.name).unwrap_or("?"))
    }

    fn func(&self, cpu: usize) -> &'static str {
        self.cpus[cpu].funcs.last().copied().unwrap_or("")
    }

    fn func_or(&self, cpu: usize, op: &'static str) -> &'static str {
        let f = self.func(cpu);
        if f.is_empty() {
            op
        } else {
            f
        }
    }

    fn record_failure(&mut self, kind: FailureKind, cpu: usize, message: String) {
        if self.failure.is_none() {
            let call_trace: Vec<String> = self.cpus[cpu].funcs.iter().rev().map(|f| f.to_string()).collect();
            let mut message = message;
            if !call_trace.is_empty() {
                message.push_str("\nCall Trace:");
                for f in &call_trace {
                    message.push_str("\n  ");
                    message.push_str(f);
                }
            }
            self.failure = Some(Failure {
                kind,
                step: self.step,
                cpu: self.cpu_label(cpu),
                call_trace,
                message,
            });
            FAILED.with(|f| f.set(true));
        }
    }

    /// Record an event when replaying for a trace; a no-op (one branch) when exploring.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    fn record_event(
        &mut self,
        cpu: usize,
        op: &'static str,
        addr: u64,
        read: Option<u64>,
        wrote: Option<u64>,
        caller: &'static Location<'static>,
    ) {
        if self.events.is_some() {
            self.push_event(cpu, op, addr, read, wrote, None, caller);
        }
    }

    #[allow(clippy::too_many_arguments)]
    #[cold]
    fn push_event(
        &mut self,
        cpu: usize,
        op: &'static str,
        addr: u64,
        read: Option<u64>,
        wrote: Option<u64>,
        stale: Option<StaleRead>,
        caller: &'static Location<'static>,
    ) {
        let location = if addr == 0 {
            String::new()
        } else if matches!(
            op,
            "kmalloc" | "kzalloc" | "kfree" | "DEFINE" | "stack" | "return"
        ) {
            self.heap.object_name(addr)
        } else {
            self.heap.describe(addr)
        };
        let ev = Event {
            step: self.step,
            cpu: cpu as u32,
            cpu_name: self.cpu_label(cpu),
            func: self.func(cpu).to_string(),
            op: op.to_string(),
            location,
            read,
            wrote,
            stale,
            source: format!("{}:{}", caller.file(), caller.line()),
        };
        if let Some(events) = self.events.as_mut() {
            events.push(ev);
        }
    }

    #[cold]
    fn note_call(&mut self, cpu: usize, entered: Option<&'static str>) {
        self.timeline.calls.push(Call {
            step: self.step,
            cpu: cpu as u32,
            entered,
        });
    }

    /// Count a step; past [`MAX_STEPS`], report a livelock and return false.
    #[inline]
    fn tick(&mut self, cpu: usize, op: &'static str) -> bool {
        self.step += 1;
        if self.step > MAX_STEPS {
            let msg = format!(
                "livelock: no end after {MAX_STEPS} steps; every CPU keeps running but none makes \
                 progress (last: {} in {})",
                op,
                self.func_or(cpu, op)
            );
            self.record_failure(FailureKind::Livelock, cpu, msg);
            return false;
        }
        true
    }
}

/// Record a failure on the running CPU and stop the execution at once: the scheduler adapter sees
/// the failure at the next scheduling point and ends the execution there.
pub(crate) fn fail(kind: FailureKind, message: String) {
    let cpu = me();
    with(|m| m.record_failure(kind, cpu, message));
    runtime::switch();
}

fn stop_if_failed() {
    if failed() {
        runtime::switch();
    }
}

/// Enter a kernel function: failures and events name the innermost one.
#[inline]
pub(crate) fn enter(func: &'static str) {
    let cpu = me();
    with(|m| {
        m.cpus[cpu].funcs.push(func);
        if m.events.is_some() {
            m.note_call(cpu, Some(func));
        }
    });
}

#[inline]
pub(crate) fn leave() {
    let cpu = me();
    with(|m| {
        if m.cpus[cpu].funcs.pop().is_some() && m.events.is_some() {
            m.note_call(cpu, None);
        }
    });
}

/// Record an oracle failure (`BUG_ON`, `WARN_ON`) raised by harness code and stop.
pub(crate) fn oracle_failure(kind: FailureKind, what: &str, caller: &'static Location<'static>) {
    let cpu = me();
    let msg = with(|m| {
        m.step += 1;
        m.record_event(cpu, "BUG", 0, None, None, caller);
        format!(
            "kernel BUG at {}:{}: {} ({} in {})",
            caller.file(),
            caller.line(),
            what,
            m.cpu_label(cpu),
            m.func_or(cpu, "harness")
        )
    });
    fail(kind, msg);
}

static NULL_LAYOUT: Layout = Layout::new("NULL", &[]);
