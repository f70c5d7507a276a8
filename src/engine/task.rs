//! CPUs and tasks: spawning and joining, sleeping and waking, waiting for memory to change, and
//! deadlock detection.

use std::fmt::Write as _;
use std::panic::Location;

use super::vclock::{VClock, MAX_CPUS};
use super::{me, rcu, runtime, with, Model, SLOT_BITS};
use crate::failure::FailureKind;
use crate::kernel::Ptr;

/// Why a CPU is not running, for deadlock detection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Blocked {
    No,
    /// In `schedule()` with a task state other than running.
    Sleeping,
    /// Asleep until the word at this address changes (a rwsem, a completion).
    OnWord(u64),
    /// Spinning until the word at this address changes (a contended spinlock): the CPU keeps
    /// running kernel code, so unlike every other wait this is no quiescent state for RCU.
    Spinning(u64),
    /// In `join` of an unfinished CPU.
    Joining(u8),
    /// Waiting for any write to the object with this index (a grace-period scan waiting for
    /// readers' counters to move; the delayed work's timer).
    OnObject(u32),
    /// In `synchronize_rcu`, waiting for pre-existing readers.
    GracePeriod,
}

/// Happens-before with marked stores, beyond [`Cpu::vc`]: entry `c` is the latest marked store
/// of CPU `c` ordered before this CPU's next access, where `vc` may know less (it cannot name a
/// store without the accesses before it in the same epoch). Only checks against another CPU's
/// marked write use it; `vc` is joined in when they do, so these clocks hold only the extra.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct MarkedHb {
    /// In effect for every later access (acquire, `smp_mb`).
    pub extra: VClock,
    /// In effect for later loads (`smp_rmb`).
    pub load: VClock,
    /// As of the last `smp_wmb`/`smp_mb`: what later marked stores pass on.
    pub fence_rel: VClock,
    /// Read so far, not yet acquired by a fence.
    pub pending: VClock,
    /// In effect for later stores only (a control dependency).
    pub store: VClock,
}

/// What a value loaded from memory carries: the clocks of the store it read, and under `lkmm`
/// the view of the load (its `post`). A value computed from several loads carries the join.
/// A store whose value is computed from loads (a data dependency, part of LKMM's `ppo` and so
/// of `hb`) passes it on.
#[derive(Clone, Copy, Debug, Default)]
pub struct LoadDep {
    pub(crate) sync: VClock,
    pub(crate) msync: VClock,
    pub(crate) view: u32,
}

impl LoadDep {
    /// The join of both.
    pub fn join(&mut self, other: &LoadDep) {
        self.sync.join(&other.sync);
        self.msync.join(&other.msync);
        self.view = self.view.max(other.view);
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Cpu {
    pub name: &'static str,
    /// Happens-before: entry `c` is the latest event of CPU `c` ordered before this CPU's next one.
    pub vc: VClock,
    /// What `smp_rmb` ordered: applies to later loads only.
    pub load_vc: VClock,
    /// What a control dependency ordered: applies to later stores only (and to what they carry).
    /// Invariant: all zero unless `ctrl`; a full fence folds it into `vc` and clears it.
    pub store_vc: VClock,
    pub ctrl: bool,
    /// Clock at the last `smp_wmb`/`smp_mb`: marked stores after it carry it as their release clock.
    pub fence_rel: VClock,
    /// Join of the release clocks of everything read so far: `smp_rmb`/`smp_mb` acquire it.
    pub pending_acq: VClock,
    /// The same for what the CPU learned of other CPUs' marked stores ([`Msg::msync`]).
    ///
    /// [`Msg::msync`]: super::memory::Msg::msync
    pub marked: MarkedHb,
    /// The next access's address depends on a loaded value (see `explicit_dependencies`).
    pub dep_next: bool,
    /// With explicit dependencies: what the CPU's latest load read ([`super::last_load`]), and
    /// the loads the value of its next store was computed from ([`super::next_store_data`]).
    pub last_load: LoadDep,
    pub data_next: Option<LoadDep>,
    /// With explicit dependencies: the next store is checked for races but left out of memory
    /// ([`super::next_store_hidden`]).
    pub hidden_next: bool,
    pub blocked: Blocked,
    /// `TASK_RUNNING` is false here; `set_current_state(TASK_UNINTERRUPTIBLE)` sets it.
    pub sleeping: bool,
    pub finished: bool,
    /// Kernel functions the CPU is inside, innermost last (`mutex_unlock`, `spin_lock`, ...).
    pub funcs: Vec<&'static str>,
    /// RCU read-side state; see [`rcu`].
    pub rcu: rcu::CpuRcu,
}

impl Cpu {
    pub fn new(name: &'static str) -> Self {
        Cpu {
            name,
            vc: VClock::default(),
            load_vc: VClock::default(),
            store_vc: VClock::default(),
            ctrl: false,
            fence_rel: VClock::default(),
            pending_acq: VClock::default(),
            marked: MarkedHb::default(),
            dep_next: false,
            last_load: LoadDep::default(),
            data_next: None,
            hidden_next: false,
            blocked: Blocked::No,
            sleeping: false,
            finished: false,
            funcs: Vec::with_capacity(8),
            rcu: rcu::CpuRcu::default(),
        }
    }
}

impl Model {
    /// Mark every CPU whose wait matches `pred` runnable again; returns them as a bit set for
    /// [`unblock_tasks`], which must run outside [`with`].
    pub(super) fn unblock_where(&mut self, pred: impl Fn(Blocked) -> bool) -> u64 {
        let mut woken = 0u64;
        for (i, c) in self.cpus.iter_mut().enumerate() {
            if pred(c.blocked) {
                if matches!(c.blocked, Blocked::OnObject(_)) {
                    self.object_waiters -= 1;
                }
                c.blocked = Blocked::No;
                woken |= 1 << i;
            }
        }
        // A woken CPU re-reads what it waits on: it sees every store so far (see `lkmm`).
        if woken != 0 {
            if let Some(w) = self.mem.lkmm() {
                let mut bits = woken;
                while bits != 0 {
                    w.catch_up(bits.trailing_zeros() as usize);
                    bits &= bits - 1;
                }
            }
        }
        woken
    }

    pub(super) fn all_blocked(&self) -> bool {
        self.cpus.iter().all(|c| c.finished || c.blocked != Blocked::No)
    }
}

/// Let shuttle run the CPUs in the bit set `woken` again.
pub(crate) fn unblock_tasks(mut woken: u64) {
    while woken != 0 {
        let i = woken.trailing_zeros() as usize;
        woken &= woken - 1;
        runtime::unblock(i);
    }
}

/// CPUs in this execution so far, CPU0 included: `for_each_possible_cpu` walks these. A CPU
/// spawned later starts with zeroed per-CPU data, as an idle possible CPU would have.
pub(crate) fn nr_cpus() -> usize {
    with(|m| m.cpus.len())
}

/// Register a new CPU for a task about to be spawned by the running CPU; returns its index, or
/// `None` when the execution already has [`MAX_CPUS`] CPUs: the execution has then failed, with a
/// report that says so.
pub(crate) fn register_cpu(name: &'static str) -> Option<usize> {
    let parent = me();
    let id = with(|m| {
        let id = m.cpus.len();
        if id >= MAX_CPUS {
            let msg = format!(
                "at most {} CPUs per execution (CPU0 and {} spawned); this harness spawned more \
                 (spawn_cpu(\"{name}\") would be CPU{id})",
                MAX_CPUS,
                MAX_CPUS - 1
            );
            m.record_failure(FailureKind::Bug, parent, msg);
            return None;
        }
        let mut c = Cpu::new(name);
        // Not scheduled in yet: it runs no kernel code.
        c.rcu.quiescent = true;
        // The new CPU may reach anything its parent could (through the closure it runs): every
        // existing object is shared from now on.
        m.heap.share_all();
        // Spawn is a release by the parent and an acquire by the child.
        c.vc = m.cpus[parent].vc;
        c.vc.set(id, 1);
        c.marked.extra = m.cpus[parent].marked.extra;
        m.cpus[parent].vc.tick(parent);
        m.cpus.push(c);
        if let Some(w) = m.mem.lkmm() {
            w.spawn(parent, id);
        }
        Some(id)
    });
    if id.is_none() {
        super::stop_if_failed();
    }
    id
}

/// The task of CPU `cpu` is scheduled in for the first time (before its first step).
pub(crate) fn cpu_started(cpu: usize) {
    with(|m| m.implicit_reader_enter(cpu));
}

pub(crate) fn cpu_finished(cpu: usize) {
    let (deadlock, woken) = with(|m| {
        // Back to user space: a quiescent state.
        let woken = m.quiescent_state(cpu);
        m.cpus[cpu].finished = true;
        for c in 0..m.cpus.len() {
            if m.cpus[c].blocked == Blocked::Joining(cpu as u8) {
                m.cpus[c].blocked = Blocked::No;
            }
        }
        // The last CPU that could have woken the others is gone.
        let deadlock = !m.cpus.iter().all(|c| c.finished) && m.all_blocked() && m.failure.is_none();
        (deadlock, woken)
    });
    unblock_tasks(woken);
    if deadlock {
        report_deadlock();
    }
}

/// Before joining `child`: record the wait for deadlock detection, and fail the execution if
/// joining would leave every CPU blocked.
pub(crate) fn before_join(child: usize) {
    let cpu = me();
    let (deadlock, woken) = with(|m| {
        if m.cpus[child].finished {
            return (false, 0);
        }
        let woken = m.quiescent_state(cpu);
        m.cpus[cpu].blocked = Blocked::Joining(child as u8);
        (m.all_blocked(), woken)
    });
    unblock_tasks(woken);
    if deadlock {
        report_deadlock();
    }
}

/// After `join` returned: the child's whole history happens-before the joiner.
pub(crate) fn after_join(child: usize) {
    let cpu = me();
    with(|m| {
        m.cpus[cpu].blocked = Blocked::No;
        let (vc, marked) = (m.cpus[child].vc, m.cpus[child].marked.extra);
        m.cpus[cpu].vc.join(&vc);
        m.cpus[cpu].marked.extra.join(&marked);
        if let Some(w) = m.mem.lkmm() {
            w.handover(child, cpu);
        }
        m.implicit_reader_enter(cpu);
    });
}

pub(super) fn report_deadlock() {
    let msg = with(|m| {
        let mut s = String::from("deadlock: every CPU is blocked\n");
        for (i, c) in m.cpus.iter().enumerate() {
            if c.finished {
                continue;
            }
            let why = match c.blocked {
                Blocked::No => "running".to_string(),
                Blocked::Sleeping => format!("sleeping in schedule() in {}", m.func(i)),
                Blocked::OnWord(a) | Blocked::Spinning(a) => {
                    format!("waiting on {} in {}", m.heap.describe(a), m.func(i))
                }
                Blocked::Joining(j) => format!("joining {}", m.cpu_label(j as usize)),
                Blocked::OnObject(o) => format!(
                    "waiting for a write to {} in {}",
                    m.heap.describe((o as u64) << SLOT_BITS),
                    m.func(i)
                ),
                Blocked::GracePeriod => format!("waiting for an RCU grace period in {}", m.func(i)),
            };
            let _ = writeln!(s, "  {}: {}", m.cpu_label(i), why);
        }
        s.trim_end().to_string()
    });
    super::fail(FailureKind::Deadlock, msg);
}

/// `__set_current_state(TASK_RUNNING)`.
pub(crate) fn set_running() {
    let cpu = me();
    with(|m| m.cpus[cpu].sleeping = false);
}

/// `set_current_state(TASK_UNINTERRUPTIBLE)`.
pub(crate) fn set_sleeping() {
    let cpu = me();
    with(|m| m.cpus[cpu].sleeping = true);
}

/// `schedule()`: sleep until woken, unless a wake-up came since `set_sleeping`.
pub(crate) fn schedule_sleep(caller: &'static Location<'static>) {
    let cpu = me();
    let sleeping = with(|m| {
        m.step += 1;
        m.record_event(cpu, "schedule", 0, None, None, caller);
        m.cpus[cpu].sleeping
    });
    if sleeping {
        block_on(Blocked::Sleeping);
    }
}

/// `wake_up_process(task)`.
pub(crate) fn wake_up_process(task: usize, caller: &'static Location<'static>) {
    runtime::switch();
    let cpu = me();
    let was_blocked = with(|m| {
        m.step += 1;
        m.record_event(cpu, "wake_up_process", 0, None, None, caller);
        // A wake-up orders the waker's past before the woken task's future.
        let (vc, marked) = (m.cpus[cpu].vc, m.cpus[cpu].marked.extra);
        let t = &mut m.cpus[task];
        t.vc.join(&vc);
        t.marked.extra.join(&marked);
        t.sleeping = false;
        let was = t.blocked == Blocked::Sleeping;
        if was {
            t.blocked = Blocked::No;
        }
        m.cpus[cpu].vc.tick(cpu);
        if let Some(w) = m.mem.lkmm() {
            w.handover(cpu, task);
        }
        was
    });
    if was_blocked {
        runtime::unblock(task);
    }
}

/// Whether `task` is on a CPU (for optimistic spinning): not asleep in `schedule()`.
pub(crate) fn on_cpu(task: usize) -> bool {
    with(|m| {
        m.cpus
            .get(task)
            .is_some_and(|c| !c.finished && c.blocked == Blocked::No)
    })
}

/// Block the running CPU until another CPU wakes it (through [`wake_word`] or
/// [`wake_up_process`]). Reports a deadlock instead if nothing could ever wake it.
///
/// Under `lkmm`, a CPU that read a stale value since it last caught up does not sleep: it catches
/// up and returns at once, a spurious wake-up every caller's retry loop handles. What it read may
/// be why it decided to wait, and the write that would wake it may already have happened.
///
/// Every wait but [`Blocked::Spinning`] sleeps: a quiescent state for RCU.
pub(crate) fn block_on(why: Blocked) {
    let cpu = me();
    let sleeps = !matches!(why, Blocked::Spinning(_));
    let deadlock = with(|m| {
        if m.mem.lkmm().is_some_and(|w| w.retry_instead_of_waiting(cpu)) {
            return None;
        }
        let woken = if sleeps { m.quiescent_state(cpu) } else { 0 };
        m.cpus[cpu].blocked = why;
        Some((m.all_blocked(), woken))
    });
    park(cpu, deadlock);
}

/// The end of a wait prepared under the model's borrow: `None`, retry at once (a scheduling
/// point); otherwise whether every CPU is now blocked, and the CPUs the wait's quiescent state
/// released. Blocks until woken, then re-enters an implicit RCU reader.
fn park(cpu: usize, prepared: Option<(bool, u64)>) {
    let Some((deadlock, woken)) = prepared else {
        runtime::switch();
        return;
    };
    unblock_tasks(woken);
    if deadlock {
        report_deadlock();
        return;
    }
    runtime::block_current();
    with(|m| m.implicit_reader_enter(cpu));
}

/// Wake every CPU blocked on the word at `addr` (after the word changed).
pub(crate) fn wake_word(addr: u64) {
    let woken = with(|m| m.unblock_where(|b| b == Blocked::OnWord(addr) || b == Blocked::Spinning(addr)));
    unblock_tasks(woken);
}

/// Sleep until the object at `p` is written, unless it was written since
/// [`generation`](super::heap::generation) returned `since`. This is how a kernel wait loop (a
/// timer, a retry with `udelay`) is modeled: the retry can only succeed once something it reads
/// has changed, so the waiter costs no steps until then. Under `lkmm` a waiter that read a stale
/// value since it last caught up retries at once (having caught up) instead: its check may have
/// failed on the stale value, and sleeping on it would be a false deadlock.
pub(crate) fn wait_for_write(p: Ptr, since: u64) {
    let obj = (p.0 >> SLOT_BITS) as u32;
    let cpu = me();
    let deadlock = with(|m| {
        if m.mem.lkmm().is_some_and(|w| w.retry_instead_of_waiting(cpu)) {
            return None;
        }
        if m.heap.get(obj as usize).map_or(0, |o| o.wgen) != since {
            return None;
        }
        let woken = m.quiescent_state(cpu);
        m.cpus[cpu].blocked = Blocked::OnObject(obj);
        m.object_waiters += 1;
        Some((m.all_blocked(), woken))
    });
    park(cpu, deadlock);
}
