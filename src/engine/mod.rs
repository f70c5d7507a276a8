//! The private engine: per-execution model state, checked memory accesses, the heap, CPUs, and
//! the adapter that lets a [`crate::sched::Strategy`] drive shuttle.
//!
//! All state of one execution lives in a thread-local [`Model`]. Shuttle runs every task of an
//! execution as a continuation on the one OS thread that called `Runner::run`, so a thread-local is
//! shared by the CPUs of an execution and by the scheduler adapter, and needs no locking. The model
//! is reset, not reallocated, at the start of each execution: its vectors keep their capacity, so
//! the hot path (one access) allocates nothing.

pub(crate) mod adapter;
pub(crate) mod cover;
pub(crate) mod rcu;
pub(crate) mod vclock;

use std::cell::{Cell, RefCell};
use std::fmt::Write as _;
use std::panic::Location;

use shuttle_engine::runtime::execution::ExecutionState;
use shuttle_engine::runtime::task::TaskId;

use crate::failure::{Failure, FailureKind};
use crate::kernel::{Layout, Ptr};
use crate::sched::NextStep;
use crate::trace::Event;
pub(crate) use vclock::MAX_CPUS;
use vclock::{Epoch, VClock};

/// Upper bound on modeled operations in one execution: a run that makes no progress is reported as
/// a livelock instead of spinning forever.
pub(crate) const MAX_STEPS: u64 = 20_000;

/// How an access orders and how the race detector treats it (`kernel-models.md` §0.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A plain C access: racy unless ordered by happens-before.
    Plain,
    /// `READ_ONCE`/`WRITE_ONCE`, `atomic_read`/`atomic_set`: marked, unordered.
    Once,
    /// `smp_load_acquire`, or the acquire half of a lock.
    Acquire,
    /// `smp_store_release`, `rcu_assign_pointer`, or the release half of an unlock.
    Release,
    /// Fully ordered value-returning RMW (`atomic_inc_return`, `xchg`, successful `cmpxchg`):
    /// an `smp_mb()` on each side.
    RmwFull,
    /// An acquiring RMW: a lock taken (`arch_spin_trylock`, `down_read_trylock`), a completion
    /// consumed.
    RmwAcquire,
    /// A releasing RMW (`atomic_long_add_return_release` in `up_read`, `complete`).
    RmwRelease,
    /// Unordered RMW (`atomic_inc`, `atomic_dec`, `this_cpu_inc`).
    RmwRelaxed,
}

impl Kind {
    fn is_plain(self) -> bool {
        self == Kind::Plain
    }

    fn is_rmw(self) -> bool {
        matches!(
            self,
            Kind::RmwFull | Kind::RmwAcquire | Kind::RmwRelease | Kind::RmwRelaxed
        )
    }
}

/// Fences (`kernel-models.md` §0.1 `MB`, `CB`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fence {
    Mb,
    Rmb,
    Wmb,
    Barrier,
}

/// One modeled memory word with its race-detection shadow.
#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    val: u64,
    /// Last write of any kind, and whether it was plain.
    w: Epoch,
    w_is_plain: bool,
    /// Last plain write: kept apart because a marked write after it does not hide it from a
    /// marked reader that is unordered with both (FastTrack keeps one write; LKMM needs two).
    w_plain: Epoch,
    /// Per CPU, the time of its last read and of its last plain read (0: none).
    r_any: [u32; MAX_CPUS],
    r_plain: [u32; MAX_CPUS],
    /// The release clock the value carries: an acquire that reads it synchronizes with it.
    /// RMWs extend it (a release sequence); a non-RMW store replaces it.
    sync: VClock,
    /// Site of the last write ([`cover::site`]), for interleaving coverage; 0 when it is off.
    w_site: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ObjKind {
    Heap,
    Static,
    Stack,
}

#[derive(Clone, Copy, Debug)]
struct Object {
    layout: &'static Layout,
    kind: ObjKind,
    /// Invariant: `base + len <= Model::slots.len()`; objects never share or reuse slots.
    base: u32,
    len: u32,
    alloc_step: u64,
    alloc_cpu: u8,
    freed: Option<(u64, u8)>,
    not_leak: bool,
    /// The CPUs that have touched the object (bit per CPU): a step on it by a CPU outside the
    /// set is shared, one by the only CPU in it is local.
    cpus: u32,
    /// Writes to the object so far: a CPU that waits for "something in here changed" (an SRCU
    /// scan waiting for readers) compares it with the value it saw before its check.
    wgen: u64,
}

/// Why a CPU is not running, for deadlock detection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Blocked {
    No,
    /// In `schedule()` with a task state other than running.
    Sleeping,
    /// Waiting for the word at this address to change (a contended spinlock, a rwsem).
    OnWord(u64),
    /// In `join` of an unfinished CPU.
    Joining(u8),
    /// Waiting for any write to the object with this index (a grace-period scan waiting for
    /// readers' counters to move; the delayed work's timer).
    OnObject(u32),
    /// In `synchronize_rcu`, waiting for pre-existing readers.
    GracePeriod,
}

#[derive(Clone, Debug)]
struct Cpu {
    name: &'static str,
    vc: VClock,
    /// Clock at the last `smp_wmb`/`smp_mb`: marked stores after it carry it as their release clock.
    fence_rel: VClock,
    /// Join of the release clocks of everything read so far: `smp_rmb`/`smp_mb` acquire it.
    pending_acq: VClock,
    blocked: Blocked,
    /// `TASK_RUNNING` is false here; `set_current_state(TASK_UNINTERRUPTIBLE)` sets it.
    sleeping: bool,
    finished: bool,
    /// Kernel functions the CPU is inside, innermost last (`mutex_unlock`, `spin_lock`, ...).
    funcs: Vec<&'static str>,
    /// RCU read-side state; see [`rcu`].
    rcu: rcu::CpuRcu,
}

impl Cpu {
    fn new(name: &'static str) -> Self {
        Cpu {
            name,
            vc: VClock::default(),
            fence_rel: VClock::default(),
            pending_acq: VClock::default(),
            blocked: Blocked::No,
            sleeping: false,
            finished: false,
            funcs: Vec::with_capacity(8),
            rcu: rcu::CpuRcu::default(),
        }
    }
}

/// Per-execution configuration a harness sets before it spawns CPUs.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ModelConfig {
    pub debug_mutexes: bool,
    /// Check the grace-period guarantee when a `synchronize_srcu` returns (`kernel-models.md`
    /// §2.7, O2.1).
    pub gp_oracle: bool,
    /// Loads marked refetchable are loaded again where their value is used (§1.4 a).
    pub refetch: bool,
    /// `CONFIG_KCSAN`: report data races.
    pub kcsan: bool,
}

/// The state of one execution.
#[derive(Debug, Default)]
pub(crate) struct Model {
    /// Modeled operations so far; every event and failure is numbered by it.
    step: u64,
    cpus: Vec<Cpu>,
    /// Index 0 is unused so that address 0 is NULL.
    objects: Vec<Object>,
    slots: Vec<Slot>,
    failure: Option<Failure>,
    /// `Some` only when replaying for a trace: exploration records nothing.
    events: Option<Vec<Event>>,
    pub config: ModelConfig,
    /// CPUs blocked on [`Blocked::OnObject`]: writes check for waiters only when non-zero.
    object_waiters: u32,
    /// RCU's global state; see [`rcu`].
    rcu: rcu::RcuState,
}

thread_local! {
    static MODEL: RefCell<Model> = RefCell::new(Model::default());
    /// Mirrors `Model::failure.is_some()`, read by the scheduler adapter on every decision.
    static FAILED: Cell<bool> = const { Cell::new(false) };
    /// Whether the next execution records events.
    static RECORD: Cell<bool> = const { Cell::new(false) };
    /// What the running CPU does at the scheduling point it is about to reach; read (and reset to
    /// `Shared`) by the adapter.
    static NEXT_STEP: Cell<NextStep> = const { Cell::new(NextStep::Shared) };
}

/// The hint for the scheduling point being decided; the next one is `Shared` unless its
/// operation says otherwise.
pub(crate) fn take_next_step() -> NextStep {
    NEXT_STEP.with(|n| n.replace(NextStep::Shared))
}

/// A scheduling point for a step no other CPU can observe (see [`NextStep::Local`]).
#[inline]
fn local_point() {
    NEXT_STEP.with(|n| n.set(NextStep::Local));
    schedule_point();
}

/// The scheduling point before `cpu` operates on object `obj`: local if no other CPU has touched
/// the object (or can reach it: see [`Model::escape`]), shared otherwise, and for bad addresses.
#[inline]
fn point_on(obj: usize, cpu: usize) {
    if with(|m| m.objects.get(obj).is_none_or(|o| o.cpus & !(1 << cpu) != 0)) {
        schedule_point();
    } else {
        local_point();
    }
}

/// The address bits that select a slot inside an object.
pub(crate) const SLOT_BITS: u32 = 16;

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

/// The shuttle task id of the running CPU (CPU0 is the harness's setup thread).
#[inline]
pub(crate) fn me() -> usize {
    usize::from(shuttle_engine::current::me())
}

/// A scheduling point: the scheduler may switch to another CPU here.
#[inline]
pub(crate) fn schedule_point() {
    shuttle_engine::runtime::thread::continuation::switch();
}

/// A scheduling point that tells the scheduler the CPU is spinning (PCT deprioritizes it).
pub(crate) fn spin_point() {
    shuttle::thread::yield_now();
}

/// Start a fresh execution on CPU0. Called first thing in every execution.
pub(crate) fn reset(config: ModelConfig) {
    let record = RECORD.with(|r| r.get());
    FAILED.with(|f| f.set(false));
    with(|m| {
        m.step = 0;
        m.cpus.clear();
        m.objects.clear();
        m.slots.clear();
        m.failure = None;
        m.config = config;
        m.object_waiters = 0;
        m.rcu = rcu::RcuState::default();
        m.events = if record {
            Some(Vec::with_capacity(256))
        } else {
            None
        };
        m.objects.push(Object {
            layout: &NULL_LAYOUT,
            kind: ObjKind::Static,
            base: 0,
            len: 0,
            alloc_step: 0,
            alloc_cpu: 0,
            freed: None,
            not_leak: true,
            cpus: !0,
            wgen: 0,
        });
        let mut cpu0 = Cpu::new("setup");
        cpu0.vc.0[0] = 1;
        m.cpus.push(cpu0);
    });
}

static NULL_LAYOUT: Layout = Layout::new("NULL", &[]);

impl Model {
    fn cpu_label(&self, cpu: usize) -> String {
        format!("CPU{} {}", cpu, self.cpus.get(cpu).map(|c| c.name).unwrap_or("?"))
    }

    fn func(&self, cpu: usize) -> &'static str {
        self.cpus[cpu].funcs.last().copied().unwrap_or("")
    }

    /// `hmm_device#1.mutex.wait_lock`: the object's type and instance, and the field path.
    pub(crate) fn describe(&self, addr: u64) -> String {
        let obj = (addr >> SLOT_BITS) as usize;
        let off = (addr & ((1 << SLOT_BITS) - 1)) as usize;
        if addr == 0 {
            return "NULL".into();
        }
        match self.objects.get(obj) {
            Some(o) => {
                let mut s = format!("{}#{}", o.layout.name, obj);
                if let Some((field, sub)) = o.layout.slot_name(off) {
                    s.push('.');
                    s.push_str(field);
                    if !sub.is_empty() {
                        s.push('.');
                        s.push_str(sub);
                    }
                } else if off != 0 {
                    let _ = write!(s, "+{off}");
                }
                s
            }
            None => format!("{addr:#x}"),
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

    #[allow(clippy::too_many_arguments)]
    fn record_event(
        &mut self,
        cpu: usize,
        op: &'static str,
        addr: u64,
        read: Option<u64>,
        wrote: Option<u64>,
        caller: &'static Location<'static>,
    ) {
        if self.events.is_none() {
            return;
        }
        let location = if addr == 0 {
            String::new()
        } else if matches!(
            op,
            "kmalloc" | "kzalloc" | "kfree" | "DEFINE" | "stack" | "return"
        ) {
            let obj = (addr >> SLOT_BITS) as usize;
            format!(
                "{}#{}",
                self.objects.get(obj).map(|o| o.layout.name).unwrap_or("?"),
                obj
            )
        } else {
            self.describe(addr)
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
            source: format!("{}:{}", caller.file(), caller.line()),
        };
        self.events.as_mut().unwrap().push(ev);
    }

    /// Resolve an address for an access, or record why it cannot be accessed.
    fn resolve(&mut self, cpu: usize, addr: u64, op: &'static str, write: bool) -> Option<usize> {
        let obj = (addr >> SLOT_BITS) as usize;
        let off = (addr & ((1 << SLOT_BITS) - 1)) as u32;
        let what = if write { "write" } else { "read" };
        let Some(o) = self.objects.get(obj).copied().filter(|_| obj != 0) else {
            let msg = format!(
                "BUG: kernel NULL pointer dereference, address: {addr:#x}\n{what} by {} in {} ({op})",
                self.cpu_label(cpu),
                self.func_or(cpu, op)
            );
            self.record_failure(FailureKind::NullDeref, cpu, msg);
            return None;
        };
        if off >= o.len {
            let msg = format!(
                "BUG: out-of-bounds {what} at {} by {} in {} ({op})",
                self.describe(addr),
                self.cpu_label(cpu),
                self.func_or(cpu, op)
            );
            self.record_failure(FailureKind::NullDeref, cpu, msg);
            return None;
        }
        if let Some((fstep, fcpu)) = o.freed {
            let msg = format!(
                "BUG: KASAN: use-after-free in {func}\n\
                 {what} of {loc} by {by} at step {step} ({op})\n\
                 allocated by {acpu} at step {astep}\n\
                 freed by {fcpu} at step {fstep}",
                func = self.func_or(cpu, op),
                loc = self.describe(addr),
                by = self.cpu_label(cpu),
                step = self.step,
                acpu = self.cpu_label(o.alloc_cpu as usize),
                astep = o.alloc_step,
                fcpu = self.cpu_label(fcpu as usize),
            );
            self.record_failure(FailureKind::UseAfterFree, cpu, msg);
            return None;
        }
        Some((o.base + off) as usize)
    }

    fn func_or(&self, cpu: usize, op: &'static str) -> &'static str {
        let f = self.func(cpu);
        if f.is_empty() {
            op
        } else {
            f
        }
    }

    /// KCSAN's rule: conflicting, from different CPUs, unordered by happens-before, at least one
    /// plain. Reports the first race on this access.
    fn check_race(&mut self, cpu: usize, slot: usize, kind: Kind, write: bool, addr: u64, op: &'static str) {
        let vc = self.cpus[cpu].vc;
        let s = &self.slots[slot];
        let plain = kind.is_plain();
        let mut other: Option<(usize, bool, bool)> = None; // (cpu, other is write, other is plain)
                                                           // Against the writes.
        if !s.w.is_none() && s.w.cpu as usize != cpu && !vc.covers(s.w) && (plain || s.w_is_plain) {
            other = Some((s.w.cpu as usize, true, s.w_is_plain));
        } else if !s.w_plain.is_none() && s.w_plain.cpu as usize != cpu && !vc.covers(s.w_plain) {
            other = Some((s.w_plain.cpu as usize, true, true));
        }
        // A write also conflicts with reads.
        if other.is_none() && write {
            for c in 0..self.cpus.len() {
                if c == cpu {
                    continue;
                }
                let rplain = if s.r_plain[c] != 0 && s.r_plain[c] > vc.0[c] {
                    true
                } else if plain && s.r_any[c] != 0 && s.r_any[c] > vc.0[c] {
                    false
                } else {
                    continue;
                };
                other = Some((c, false, rplain));
                break;
            }
        }
        if let Some((oc, owrite, oplain)) = other {
            let msg = format!(
                "BUG: KCSAN: data-race in {func}\n\
                 {me_kind} {me_rw} of {loc} by {by} at step {step} ({op})\n\
                 races with an earlier {o_kind} {o_rw} by {ocpu}, unordered by happens-before",
                func = self.func_or(cpu, op),
                me_kind = if plain { "plain" } else { "marked" },
                me_rw = if write { "write" } else { "read" },
                loc = self.describe(addr),
                by = self.cpu_label(cpu),
                step = self.step,
                o_kind = if oplain { "plain" } else { "marked" },
                o_rw = if owrite { "write" } else { "read" },
                ocpu = self.cpu_label(oc),
            );
            self.record_failure(FailureKind::DataRace, cpu, msg);
        }
    }
}

/// Record a failure on the running CPU and stop the execution at once: the scheduler adapter sees
/// the failure at the next scheduling point and ends the execution there.
pub(crate) fn fail(kind: FailureKind, message: String) {
    let cpu = me();
    with(|m| m.record_failure(kind, cpu, message));
    schedule_point();
}

fn stop_if_failed() {
    if failed() {
        schedule_point();
    }
}

/// One checked access to the word at `addr`: a scheduling point, the use-after-free and race
/// checks, the happens-before bookkeeping, then `f(old) -> (result, new value to store)`.
#[inline]
pub(crate) fn access(
    addr: u64,
    kind: Kind,
    op: &'static str,
    writes: bool,
    caller: &'static Location<'static>,
    f: impl FnOnce(u64) -> (u64, Option<u64>),
) -> u64 {
    let cpu = me();
    let obj = (addr >> SLOT_BITS) as usize;
    point_on(obj, cpu);
    let ret = with(|m| {
        m.step += 1;
        if m.step > MAX_STEPS {
            let msg = format!(
                "livelock: no end after {MAX_STEPS} steps; every CPU keeps running but none makes \
                 progress (last: {} in {})",
                op,
                m.func_or(cpu, op)
            );
            m.record_failure(FailureKind::Livelock, cpu, msg);
            return (0, 0);
        }
        let Some(slot) = m.resolve(cpu, addr, op, writes) else {
            m.record_event(cpu, op, addr, None, None, caller);
            return (0, 0);
        };
        let old = m.slots[slot].val;
        let (ret, new) = f(old);
        let write = new.is_some();
        // An RMW that does not write (a failed cmpxchg, a lock found taken) orders nothing: it is
        // a marked read.
        let kind = if kind.is_rmw() && !write { Kind::Once } else { kind };
        let is_rmw = kind.is_rmw();
        if m.config.kcsan {
            m.check_race(cpu, slot, kind, write, addr, op);
        }

        let time = m.cpus[cpu].vc.0[cpu];
        let c = &mut m.cpus[cpu];
        let s = &mut m.slots[slot];
        // A value-returning RMW is fully ordered: an smp_mb() on each side of it. The one before
        // acquires everything read so far.
        if kind == Kind::RmwFull {
            let p = c.pending_acq;
            c.vc.join(&p);
        }
        if cover::enabled() {
            let site = cover::site(caller, c.funcs.last().copied().unwrap_or(""), op);
            if !write || is_rmw {
                cover::reads_from(
                    site,
                    s.w_site,
                    addr & ((1 << SLOT_BITS) - 1),
                    s.w.cpu as usize != cpu,
                );
            }
            if write {
                s.w_site = site;
            }
        }
        // Reads: acquire what the value carries.
        if !write || is_rmw {
            if matches!(kind, Kind::Acquire | Kind::RmwFull | Kind::RmwAcquire) {
                c.vc.join(&s.sync);
            }
            c.pending_acq.join(&s.sync);
            s.r_any[cpu] = time;
            if kind.is_plain() {
                s.r_plain[cpu] = time;
            }
        }
        let mut released = false;
        if let Some(v) = new {
            s.val = v;
            s.w = Epoch { cpu: cpu as u8, time };
            s.w_is_plain = kind.is_plain();
            if kind.is_plain() {
                s.w_plain = s.w;
            }
            match kind {
                Kind::Release | Kind::RmwFull | Kind::RmwRelease => {
                    if is_rmw {
                        s.sync.join(&c.vc);
                    } else {
                        s.sync = c.vc;
                    }
                    released = true;
                }
                // An RMW continues the release sequence of the value it replaces.
                Kind::RmwRelaxed | Kind::RmwAcquire => s.sync.join(&c.fence_rel),
                _ => s.sync = c.fence_rel,
            }
        }
        if kind == Kind::RmwFull {
            // The smp_mb() after: later marked stores carry everything up to here.
            c.fence_rel = c.vc;
        }
        if released {
            c.vc.0[cpu] += 1;
        }
        let read = if !write || is_rmw { Some(old) } else { None };
        m.record_event(cpu, op, addr, read, new, caller);
        let mut woken = 0u32;
        m.objects[obj].cpus |= 1 << cpu;
        if let Some(v) = new {
            // A stored pointer makes its object reachable by every CPU: steps on it are shared
            // from now on, even by the CPU that allocated it (publish, then initialize).
            m.escape(v);
        }
        if write {
            m.objects[obj].wgen += 1;
            if m.object_waiters != 0 {
                woken = m.unblock_where(|b| b == Blocked::OnObject(obj as u32));
            }
        }
        (ret, woken)
    });
    unblock_tasks(ret.1);
    stop_if_failed();
    ret.0
}

impl Model {
    /// `v`, just stored, may be a pointer: if it points into an object, that object is shared.
    #[inline]
    fn escape(&mut self, v: u64) {
        let target = (v >> SLOT_BITS) as usize;
        if target != 0 {
            if let Some(o) = self.objects.get_mut(target) {
                if (v & ((1 << SLOT_BITS) - 1)) < u64::from(o.len) {
                    o.cpus = !0;
                }
            }
        }
    }

    /// Mark every CPU whose wait matches `pred` runnable again; returns them as a bit set for
    /// [`unblock_tasks`], which must run outside [`with`].
    fn unblock_where(&mut self, pred: impl Fn(Blocked) -> bool) -> u32 {
        let mut woken = 0u32;
        for (i, c) in self.cpus.iter_mut().enumerate() {
            if pred(c.blocked) {
                if matches!(c.blocked, Blocked::OnObject(_)) {
                    self.object_waiters -= 1;
                }
                c.blocked = Blocked::No;
                woken |= 1 << i;
            }
        }
        woken
    }
}

/// Let shuttle run the CPUs in the bit set `woken` again.
fn unblock_tasks(mut woken: u32) {
    while woken != 0 {
        let i = woken.trailing_zeros() as usize;
        woken &= woken - 1;
        ExecutionState::with(|s| s.get_mut(TaskId::from(i)).unblock());
    }
}

/// How many writes the object at `p` has seen: pass it to [`wait_for_write`] after a check that
/// failed, so that a write between the check and the wait is not missed.
pub(crate) fn generation(p: Ptr) -> u64 {
    with(|m| m.objects.get((p.0 >> SLOT_BITS) as usize).map_or(0, |o| o.wgen))
}

/// Sleep until the object at `p` is written, unless it was written since [`generation`] returned
/// `since`. This is how a kernel wait loop (a timer, a retry with `udelay`) is modeled: the retry
/// can only succeed once something it reads has changed, so the waiter costs no steps until then.
pub(crate) fn wait_for_write(p: Ptr, since: u64) {
    let obj = (p.0 >> SLOT_BITS) as u32;
    let cpu = me();
    let deadlock = with(|m| {
        if m.objects.get(obj as usize).map_or(0, |o| o.wgen) != since {
            return None;
        }
        m.cpus[cpu].blocked = Blocked::OnObject(obj);
        m.object_waiters += 1;
        Some(m.all_blocked())
    });
    match deadlock {
        None => schedule_point(),
        Some(true) => report_deadlock(),
        Some(false) => {
            ExecutionState::with(|s| s.current_mut().block(false));
            schedule_point();
        }
    }
}

/// A fence: `smp_mb`, `smp_rmb`, `smp_wmb` or `barrier`.
pub(crate) fn fence(f: Fence, op: &'static str, caller: &'static Location<'static>) {
    // Under sequential consistency a fence changes no outcome by where it is interleaved.
    local_point();
    let cpu = me();
    with(|m| {
        m.step += 1;
        let c = &mut m.cpus[cpu];
        match f {
            Fence::Mb => {
                let p = c.pending_acq;
                c.vc.join(&p);
                c.fence_rel = c.vc;
                c.vc.0[cpu] += 1;
            }
            Fence::Rmb => {
                let p = c.pending_acq;
                c.vc.join(&p);
            }
            Fence::Wmb => {
                c.fence_rel = c.vc;
                c.vc.0[cpu] += 1;
            }
            Fence::Barrier => {}
        }
        m.record_event(cpu, op, 0, None, None, caller);
    });
}

/// Enter a kernel function: failures and events name the innermost one.
#[inline]
pub(crate) fn enter(func: &'static str) {
    let cpu = me();
    with(|m| m.cpus[cpu].funcs.push(func));
}

#[inline]
pub(crate) fn leave() {
    let cpu = me();
    with(|m| {
        m.cpus[cpu].funcs.pop();
    });
}

// ---------------------------------------------------------------------------------------------
// Heap

pub(crate) fn alloc(
    layout: &'static Layout,
    kind: ObjKind,
    op: &'static str,
    caller: &'static Location<'static>,
) -> Ptr {
    local_point();
    let cpu = me();
    let p = with(|m| {
        m.step += 1;
        let len = layout.len() as u32;
        let base = m.slots.len() as u32;
        let init = Slot {
            sync: VClock::default(),
            ..Slot::default()
        };
        m.slots.resize(base as usize + len as usize, init);
        // The allocating CPU initializes the memory: its writes are ordered before the object is
        // published by any release, so they count as plain writes by it.
        let time = m.cpus[cpu].vc.0[cpu];
        for s in &mut m.slots[base as usize..(base + len) as usize] {
            s.w = Epoch { cpu: cpu as u8, time };
            s.w_is_plain = true;
            s.w_plain = s.w;
        }
        let id = m.objects.len() as u64;
        m.objects.push(Object {
            layout,
            kind,
            base,
            len,
            alloc_step: m.step,
            alloc_cpu: cpu as u8,
            freed: None,
            not_leak: kind != ObjKind::Heap,
            cpus: 1 << cpu,
            wgen: 0,
        });
        let p = id << SLOT_BITS;
        m.record_event(cpu, op, p, None, None, caller);
        p
    });
    Ptr(p)
}

pub(crate) fn free(p: Ptr, op: &'static str, caller: &'static Location<'static>) {
    let cpu = me();
    point_on((p.0 >> SLOT_BITS) as usize, cpu);
    with(|m| {
        m.step += 1;
        let obj = (p.0 >> SLOT_BITS) as usize;
        if p.0 == 0 {
            // kfree(NULL) is a no-op.
            m.record_event(cpu, op, 0, None, None, caller);
            return;
        }
        let valid = obj < m.objects.len() && p.0 & ((1 << SLOT_BITS) - 1) == 0;
        if !valid {
            let msg = format!(
                "BUG: {op} of an invalid pointer {} by {}",
                m.describe(p.0),
                m.cpu_label(cpu)
            );
            m.record_failure(FailureKind::InvalidFree, cpu, msg);
            return;
        }
        let o = m.objects[obj];
        if let Some((fstep, fcpu)) = o.freed {
            let msg = format!(
                "BUG: KASAN: double-free in {func}\n\
                 {op} of {loc} by {by} at step {step}\n\
                 allocated by {acpu} at step {astep}\n\
                 freed by {fcpu} at step {fstep}",
                func = m.func_or(cpu, op),
                loc = m.describe(p.0),
                by = m.cpu_label(cpu),
                step = m.step,
                acpu = m.cpu_label(o.alloc_cpu as usize),
                astep = o.alloc_step,
                fcpu = m.cpu_label(fcpu as usize),
            );
            m.record_failure(FailureKind::DoubleFree, cpu, msg);
            m.record_event(cpu, op, p.0, None, None, caller);
            return;
        }
        if o.kind == ObjKind::Static {
            let msg = format!(
                "BUG: {op} of static object {} by {}",
                m.describe(p.0),
                m.cpu_label(cpu)
            );
            m.record_failure(FailureKind::InvalidFree, cpu, msg);
            return;
        }
        // Accesses after this step fail as use-after-free; the object's slots are kept, never
        // reused, so a late access is always caught rather than landing in a new object.
        m.objects[obj].freed = Some((m.step, cpu as u8));
        m.record_event(cpu, op, p.0, None, None, caller);
    });
    stop_if_failed();
}

/// The end of a stack object's scope: later accesses fail as use-after-free (of the stack).
pub(crate) fn free_stack(p: Ptr, caller: &'static Location<'static>) {
    let cpu = me();
    with(|m| {
        let obj = (p.0 >> SLOT_BITS) as usize;
        if obj != 0 && obj < m.objects.len() && m.objects[obj].freed.is_none() {
            m.objects[obj].freed = Some((m.step, cpu as u8));
            m.record_event(cpu, "return", p.0, None, None, caller);
        }
    });
}

pub(crate) fn not_leak(p: Ptr) {
    with(|m| {
        let obj = (p.0 >> SLOT_BITS) as usize;
        if obj != 0 && obj < m.objects.len() {
            m.objects[obj].not_leak = true;
        }
    });
}

/// At the end of a clean execution: every heap object must have been freed.
pub(crate) fn check_leaks() {
    if failed() {
        return;
    }
    let cpu = me();
    with(|m| {
        let leaked: Vec<usize> = (1..m.objects.len())
            .filter(|&i| {
                let o = &m.objects[i];
                o.kind == ObjKind::Heap && o.freed.is_none() && !o.not_leak
            })
            .collect();
        if let Some(&first) = leaked.first() {
            let o = m.objects[first];
            let names: Vec<String> = leaked
                .iter()
                .map(|&i| m.describe((i as u64) << SLOT_BITS))
                .collect();
            let msg = format!(
                "kmemleak: {} unreferenced object(s) at the end of the execution: {}\n\
                 {} allocated by {} at step {}; free it, or mark it kmemleak_not_leak() if it \
                 lives on by design",
                leaked.len(),
                names.join(", "),
                names[0],
                m.cpu_label(o.alloc_cpu as usize),
                o.alloc_step
            );
            m.record_failure(FailureKind::Leak, cpu, msg);
        }
    });
}

// ---------------------------------------------------------------------------------------------
// CPUs

/// CPUs in this execution so far, CPU0 included: `for_each_possible_cpu` walks these. A CPU
/// spawned later starts with zeroed per-CPU data, as an idle possible CPU would have.
pub(crate) fn nr_cpus() -> usize {
    with(|m| m.cpus.len())
}

/// Register a new CPU for a task about to be spawned by the running CPU; returns its index.
pub(crate) fn register_cpu(name: &'static str) -> usize {
    let parent = me();
    with(|m| {
        let id = m.cpus.len();
        assert!(id < MAX_CPUS, "a harness may use at most {} CPUs", MAX_CPUS - 1);
        let mut c = Cpu::new(name);
        // The new CPU may reach anything its parent could (through the closure it runs): every
        // existing object is shared from now on.
        for o in &mut m.objects {
            o.cpus = !0;
        }
        // Spawn is a release by the parent and an acquire by the child.
        c.vc = m.cpus[parent].vc;
        c.vc.0[id] = 1;
        m.cpus[parent].vc.0[parent] += 1;
        m.cpus.push(c);
        id
    })
}

pub(crate) fn cpu_finished(cpu: usize) {
    with(|m| {
        m.cpus[cpu].finished = true;
        for c in 0..m.cpus.len() {
            if m.cpus[c].blocked == Blocked::Joining(cpu as u8) {
                m.cpus[c].blocked = Blocked::No;
            }
        }
    });
}

/// Before joining `child`: record the wait for deadlock detection. Returns false (and fails the
/// execution) if joining would leave every CPU blocked.
pub(crate) fn before_join(child: usize) {
    let cpu = me();
    let deadlock = with(|m| {
        if m.cpus[child].finished {
            return false;
        }
        m.cpus[cpu].blocked = Blocked::Joining(child as u8);
        m.all_blocked()
    });
    if deadlock {
        report_deadlock();
    }
}

/// After `join` returned: the child's whole history happens-before the joiner.
pub(crate) fn after_join(child: usize) {
    let cpu = me();
    with(|m| {
        m.cpus[cpu].blocked = Blocked::No;
        let vc = m.cpus[child].vc;
        m.cpus[cpu].vc.join(&vc);
    });
}

impl Model {
    fn all_blocked(&self) -> bool {
        self.cpus.iter().all(|c| c.finished || c.blocked != Blocked::No)
    }
}

fn report_deadlock() {
    let msg = with(|m| {
        let mut s = String::from("deadlock: every CPU is blocked\n");
        for (i, c) in m.cpus.iter().enumerate() {
            if c.finished {
                continue;
            }
            let why = match c.blocked {
                Blocked::No => "running".to_string(),
                Blocked::Sleeping => format!("sleeping in schedule() in {}", m.func(i)),
                Blocked::OnWord(a) => format!("waiting on {} in {}", m.describe(a), m.func(i)),
                Blocked::Joining(j) => format!("joining {}", m.cpu_label(j as usize)),
                Blocked::OnObject(o) => format!(
                    "waiting for a write to {} in {}",
                    m.describe((o as u64) << SLOT_BITS),
                    m.func(i)
                ),
                Blocked::GracePeriod => format!("waiting for an RCU grace period in {}", m.func(i)),
            };
            let _ = writeln!(s, "  {}: {}", m.cpu_label(i), why);
        }
        s.trim_end().to_string()
    });
    fail(FailureKind::Deadlock, msg);
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
    schedule_point();
    let cpu = me();
    let was_blocked = with(|m| {
        m.step += 1;
        m.record_event(cpu, "wake_up_process", 0, None, None, caller);
        // A wake-up orders the waker's past before the woken task's future.
        let vc = m.cpus[cpu].vc;
        let t = &mut m.cpus[task];
        t.vc.join(&vc);
        t.sleeping = false;
        let was = t.blocked == Blocked::Sleeping;
        if was {
            t.blocked = Blocked::No;
        }
        m.cpus[cpu].vc.0[cpu] += 1;
        was
    });
    if was_blocked {
        ExecutionState::with(|s| s.get_mut(TaskId::from(task)).unblock());
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
pub(crate) fn block_on(why: Blocked) {
    let cpu = me();
    let deadlock = with(|m| {
        m.cpus[cpu].blocked = why;
        m.all_blocked()
    });
    if deadlock {
        report_deadlock();
        return;
    }
    ExecutionState::with(|s| s.current_mut().block(false));
    schedule_point();
}

/// Wake every CPU blocked on the word at `addr` (after the word changed).
pub(crate) fn wake_word(addr: u64) {
    let woken = with(|m| m.unblock_where(|b| b == Blocked::OnWord(addr)));
    unblock_tasks(woken);
}

pub(crate) fn config() -> ModelConfig {
    with(|m| m.config)
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
