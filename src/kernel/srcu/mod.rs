//! SRCU, sleepable RCU: one API (`srcu_read_lock` returning `idx`, `srcu_read_unlock`,
//! `synchronize_srcu`, `synchronize_srcu_expedited`, `srcu_barrier`, `srcu_dereference`) over
//! four implementations, each modeled at the level of its shared-memory accesses
//! (`docs/srcu.md`). A harness picks one with [`SrcuFlavor`] when it calls [`init_srcu_struct`].
//!
//! * [`SrcuFlavor::ClassicSched`]: 2.6.19 to v3.3: one per-CPU counter per index, no reader-side
//!   barrier, `synchronize_sched()` three times under the SRCU-internal `mutex`, and an early exit
//!   for a caller whose snapshot is two flips old (`docs/srcu.md`, §Classic SRCU 2.6.19 to v3.3).
//! * [`SrcuFlavor::Classic`]: v3.4 (Lai Jiangshan's rewrite): per-CPU `c[]`/`seq[]` counters,
//!   the index flip, a two-phase wait (stragglers on the inactive index first), every
//!   `synchronize_srcu` serialized on the SRCU-internal `mutex` (`docs/srcu.md`, §Classic SRCU
//!   v3.4).
//! * [`SrcuFlavor::ClassicBatch`]: v3.5 to v4.11: per-CPU `lock_count[]`/`unlock_count[]`, no
//!   mutex: the holder of the `running` token (a caller, or the work item `process_srcu`) flips
//!   and scans, and callbacks pass through batches (`docs/srcu.md`, §Classic SRCU v3.5 to v4.11).
//! * [`SrcuFlavor::Tree`]: v6.0 tree SRCU: per-CPU `srcu_lock_count[]`/`srcu_unlock_count[]`,
//!   callers that only snapshot `srcu_gp_seq` and wait for a callback, and one worker running the
//!   IDLE → SCAN1 → SCAN2 state machine under `srcu_gp_mutex` (`docs/srcu.md`, §Tree SRCU
//!   v6.0).
//! * [`SrcuFlavor::SmallCounters`]: B4, no kernel: classic v3.5's counters two bits wide and
//!   callers that flip while another scans, so the counters wrap during a scan
//!   (`docs/srcu.md`, §B4).
//! * [`SrcuFlavor::Naive`]: the single-phase flip-and-wait with no serialization of callers
//!   (`docs/srcu.md`, §The naive SRCU): the broken one, which the KVM thread feared the real SRCU
//!   might be.
//!
//! * [`SrcuFlavor::Guarantee`]: no implementation: the engine keeps SRCU's grace-period
//!   guarantee per domain, as it keeps RCU's, with read-side primitives that order nothing
//!   (LKMM's specification, which every implementation strengthens). `kgrace litmus` runs on it.
//!
//! With [`Config::srcu_migration`](crate::config::Config::srcu_migration) on, readers migrate: a
//! task preempted inside its read-side section may resume on another CPU, so `srcu_read_unlock`
//! updates the per-CPU counters of whichever CPU it runs on by then. Which one is the strategy's
//! decision (`SrcuStruct::resumed_cpu`), recorded in traces like the choice of the store a load
//! reads: mostly the CPU of the lock, sometimes any other. Off, a section ends on the CPU it
//! began on.
//!
//! Waiting loops (`wait_idx`'s retry, the worker's delayed requeue) sleep until one of the
//! counters is written instead of spinning: the retry could not succeed any sooner, and the
//! scheduler still decides when everything else runs.
//!
//! Every implementation reports its readers to the grace-period oracle (`docs/concurrent_srcu.md`,
//! oracle O2.1): a reader counts as entered at its counter increment, and when a
//! `synchronize_srcu` returns no reader that entered before its invocation may still be inside.
//! Harnesses turn the check on with [`Config::gp_oracle`](crate::harness::Config).

mod classic;
mod classic_batch;
mod classic_sched;
mod guarantee;
mod naive;
mod small_counters;
mod tree;

use std::panic::Location;

use super::completion::Completion;
use super::cpu::{KFunc, Task};
use super::heap::KObject;
use super::list::ListHead;
use super::mem::{read_once, this_cpu_add, Embed, Field, Layout, Ptr, Value, Word};
use super::mutex::Mutex;
use super::spinlock::Spinlock;
use crate::engine::{self, ObjKind, MAX_CPUS};

/// Which SRCU implementation a `srcu_struct` runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SrcuFlavor {
    /// Classic SRCU as of 2.6.19 to v3.3: `synchronize_sched()`-based, mutex-serialized, early
    /// exit after two flips (`docs/srcu.md`, §Classic SRCU 2.6.19 to v3.3).
    ClassicSched,
    /// [`ClassicSched`](SrcuFlavor::ClassicSched) with the early exit after one flip instead of
    /// two (B3, `docs/srcu.md`): broken under weak memory, as the kernel's comment explains.
    ClassicSchedEarlyExit,
    /// Classic SRCU as of v3.4: mutex-serialized two-phase wait (`docs/srcu.md`, §Classic SRCU
    /// v3.4).
    Classic,
    /// Classic SRCU as of v3.5 to v4.11: callback batches advanced by the holder of the
    /// `running` token (`docs/srcu.md`, §Classic SRCU v3.5 to v4.11). The SRCU of 2015.
    ClassicBatch,
    /// Tree SRCU as of v6.0: `srcu_gp_seq` snapshots and one grace-period worker (`docs/srcu.md`,
    /// §Tree SRCU v6.0).
    Tree,
    /// Single-phase flip-and-wait, callers unserialized (`docs/srcu.md`, §The naive SRCU): broken.
    Naive,
    /// SRCU's guarantee kept by the engine, without an implementation's barriers (LKMM's
    /// specification of SRCU).
    Guarantee,
    /// B4 (`docs/srcu.md`): classic v3.5's lock/unlock counters, too narrow never to wrap, and
    /// callers that flip and scan concurrently: broken.
    SmallCounters,
    /// [`SmallCounters`](SrcuFlavor::SmallCounters) with callers serialized (passes).
    SmallCountersSerialized,
    /// [`SmallCounters`](SrcuFlavor::SmallCounters) with counters that do not wrap (passes).
    SmallCountersWide,
    /// A mutant for testing the tests: 2.6.x SRCU without the `synchronize_sched()` before the
    /// flip.
    #[doc(hidden)]
    ClassicSchedWithoutSyncBeforeFlip,
    /// A mutant for testing the tests: 2.6.x SRCU without the `synchronize_sched()` after the
    /// flip (stragglers are possible).
    #[doc(hidden)]
    ClassicSchedWithoutSyncAfterFlip,
    /// A mutant for testing the tests: 2.6.x SRCU without the `synchronize_sched()` after the
    /// wait.
    #[doc(hidden)]
    ClassicSchedWithoutSyncAfterWait,
    /// A mutant for testing the tests: classic SRCU without its first `wait_idx` (the wait for
    /// stragglers on the inactive index). Harnesses that pass on `Classic` should catch it.
    #[doc(hidden)]
    ClassicWithoutStragglerWait,
    /// A mutant for testing the tests: classic SRCU whose scan accepts a zero `c` sum without
    /// re-reading `seq`, so a reader that migrated during the sum can fake the zero.
    #[doc(hidden)]
    ClassicWithoutSeqCheck,
    /// A mutant for testing the tests: classic SRCU v3.5+ whose `srcu_advance_batches` flips
    /// without first scanning the inactive index for stragglers.
    #[doc(hidden)]
    ClassicBatchWithoutStragglerScan,
    /// A mutant for testing the tests: tree SRCU without its control dependencies (callbacks
    /// invoked as if without checking the grace-period sequence read; the flip and the end of a
    /// grace period as if without checking the scans).
    #[doc(hidden)]
    TreeWithoutCtrlDep,
    /// A mutant for testing the tests: tree SRCU whose SCAN1 flips without checking the inactive
    /// index for stragglers.
    #[doc(hidden)]
    TreeWithoutScan1Check,
}

impl SrcuFlavor {
    /// The implementation a mutant is a variation of.
    fn base(self) -> SrcuFlavor {
        match self {
            SrcuFlavor::ClassicWithoutStragglerWait | SrcuFlavor::ClassicWithoutSeqCheck => {
                SrcuFlavor::Classic
            }
            SrcuFlavor::TreeWithoutScan1Check | SrcuFlavor::TreeWithoutCtrlDep => SrcuFlavor::Tree,
            SrcuFlavor::ClassicSchedEarlyExit
            | SrcuFlavor::ClassicSchedWithoutSyncBeforeFlip
            | SrcuFlavor::ClassicSchedWithoutSyncAfterFlip
            | SrcuFlavor::ClassicSchedWithoutSyncAfterWait => SrcuFlavor::ClassicSched,
            SrcuFlavor::SmallCountersSerialized | SrcuFlavor::SmallCountersWide => SrcuFlavor::SmallCounters,
            SrcuFlavor::ClassicBatchWithoutStragglerScan => SrcuFlavor::ClassicBatch,
            f => f,
        }
    }
}

crate::kstruct! {
    /// `struct srcu_struct`, with the fields of every implementation; each uses its own.
    pub struct SrcuObj("srcu_struct") {
        /// Classic: the flip counter; the active index is `completed & 1`.
        completed: Word<u64>,
        /// Classic: serializes `synchronize_srcu` callers.
        mutex: Mutex,
        /// ClassicBatch: protects `running` and `batch_queue`.
        queue_lock: Spinlock,
        /// ClassicBatch: the token of the one that may flip and scan.
        running: Word<bool>,
        /// ClassicBatch: callbacks queued while the token was taken; callbacks waiting for a
        /// scan, a flip and a scan; for the second scan; ready to invoke.
        batch_queue: ListHead,
        batch_check0: ListHead,
        batch_check1: ListHead,
        batch_done: ListHead,
        /// Tree: the flip counter.
        srcu_idx: Word<u64>,
        /// Tree: grace-period sequence; low two bits are the state (IDLE, SCAN1, SCAN2).
        srcu_gp_seq: Word<u64>,
        /// Tree: the furthest grace period any caller asked for.
        srcu_gp_seq_needed: Word<u64>,
        /// Tree: `ssp->lock`.
        lock: Spinlock,
        /// Tree: serializes the grace-period state machine.
        srcu_gp_mutex: Mutex,
        /// Tree: "at most one more grace period while callbacks are being initiated".
        srcu_cb_mutex: Mutex,
        /// Tree: the furthest grace period an expedited caller asked for.
        srcu_gp_seq_needed_exp: Word<u64>,
        /// Tree, `SRCU_SIZE_SMALL`: every callback goes on CPU 0's `srcu_data`, whose list,
        /// lock, `srcu_gp_seq_needed` and `srcu_gp_seq_needed_exp` these are.
        srcu_cblist: ListHead,
        srcu_cblist_lock: Spinlock,
        sda_gp_seq_needed: Word<u64>,
        sda_gp_seq_needed_exp: Word<u64>,
        /// Tree, classic v3.5+: `ssp->work`, the delayed work item: pending bit and the kworker
        /// that runs it.
        work_pending: Word<u64>,
        work_kworker: Word<Task>,
        /// Tree: `srcu_barrier_mutex`.
        srcu_barrier_mutex: Mutex,
        /// Tree, classic v3.5+: `cleanup_srcu_struct` stops the kworker and waits for it.
        work_stop: Word<bool>,
        work_exited: Completion,
        /// Naive: the flip counter.
        idx: Word<u64>,
        /// Tree: CPU 0's `srcu_data`'s `work` (callback invocation): pending bit, kworker,
        /// completion of its exit; and `srcu_cblist_invoking`.
        sdp_work_pending: Word<u64>,
        sdp_work_kworker: Word<Task>,
        sdp_work_exited: Completion,
        srcu_cblist_invoking: Word<bool>,
    }
}

crate::kstruct! {
    /// The on-stack `struct rcu_synchronize` of a tree `synchronize_srcu`: the callback, the
    /// grace period it waits for, and the completion its callback (`wakeme_after_rcu`) signals.
    struct RcuSynchronize("rcu_synchronize") {
        head: ListHead,
        gp_seq: Word<u64>,
        completion: Completion,
    }
}

/// Four words per CPU: two counters per index. Their names depend on the implementation.
const PER_CPU: usize = 4;

macro_rules! per_cpu_layout {
    ($name:literal, [$a0:literal, $a1:literal, $b0:literal, $b1:literal]) => {{
        const WORDS: &[&str] = &[$a0, $a1, $b0, $b1];
        // One field per possible CPU, named `cpu0`, `cpu1`, ...
        const FIELDS: &[Field] = &{
            let mut f = [Field::new("", WORDS); MAX_CPUS];
            let mut cpu = 0;
            while cpu < MAX_CPUS {
                f[cpu] = Field::new(CPU_NAMES[cpu], WORDS);
                cpu += 1;
            }
            f
        };
        const L: Layout = Layout::new($name, FIELDS);
        &L
    }};
}

static CLASSIC_COUNTERS: &Layout = per_cpu_layout!("srcu_struct_array", ["c[0]", "c[1]", "seq[0]", "seq[1]"]);
static CLASSIC_SCHED_COUNTERS: &Layout =
    per_cpu_layout!("srcu_struct_array", ["c[0]", "c[1]", "unused", "unused"]);
static CLASSIC_BATCH_COUNTERS: &Layout = per_cpu_layout!(
    "srcu_array",
    [
        "lock_count[0]",
        "lock_count[1]",
        "unlock_count[0]",
        "unlock_count[1]"
    ]
);
static TREE_COUNTERS: &Layout = per_cpu_layout!(
    "srcu_data",
    [
        "srcu_lock_count[0]",
        "srcu_lock_count[1]",
        "srcu_unlock_count[0]",
        "srcu_unlock_count[1]"
    ]
);
static NAIVE_COUNTERS: &Layout = per_cpu_layout!("srcu_counters", ["cnt[0]", "cnt[1]", "unused", "unused"]);

/// A `struct srcu_struct *`, with the per-CPU counters and the implementation it runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SrcuStruct {
    sp: SrcuObj,
    /// The per-CPU counters (`sp->per_cpu_ref`, `ssp->sda`): an object of their own, so that a
    /// waiter can sleep until a reader writes one of them.
    percpu: Ptr,
    flavor: SrcuFlavor,
}

impl SrcuStruct {
    /// The address of the `srcu_struct` itself.
    pub(crate) fn ptr(self) -> Ptr {
        self.sp.ptr()
    }

    /// The implementation.
    pub fn flavor(self) -> SrcuFlavor {
        self.flavor
    }

    /// Counter `which` (0: `c`/`srcu_lock_count`/`cnt`, 1: `seq`/`srcu_unlock_count`) of index
    /// `idx` on `cpu`.
    fn counter(self, cpu: usize, which: usize, idx: usize) -> Word<u64> {
        Word::at(self.percpu.add(cpu * PER_CPU + which * 2 + idx))
    }

    /// This CPU's counter.
    fn this_cpu(self, which: usize, idx: usize) -> Word<u64> {
        self.counter(engine::me(), which, idx)
    }

    /// The CPU a reader runs on when it reaches `srcu_read_unlock`. Its section may sleep or be
    /// preempted, and the task may then resume on any CPU; the model's CPU numbers stand for the
    /// CPUs, and the strategy picks (0, the most likely, is no migration; the choice is recorded
    /// as a read decision). The counters of the chosen CPU are the ones the unlock updates: what
    /// classic SRCU's second `seq` sum and tree SRCU's unlocks-first scan are there for.
    fn resumed_cpu(self) -> usize {
        let cpu = engine::me();
        let n = engine::nr_cpus();
        if n < 2 || !engine::config().srcu_migration {
            return cpu;
        }
        (cpu + engine::choose_read(n)) % n
    }

    /// The sum over possible CPUs of a counter, each CPU's copy read with `READ_ONCE`.
    #[track_caller]
    fn sum(self, which: usize, idx: usize) -> u64 {
        let mut sum = 0u64;
        let mut cpu = 0;
        while cpu < engine::nr_cpus() {
            sum = sum.wrapping_add(read_once(self.counter(cpu, which, idx)));
            cpu += 1;
        }
        sum
    }

    /// `this_cpu_inc`/`this_cpu_dec` of this CPU's counter.
    #[track_caller]
    fn this_cpu_add(self, which: usize, idx: usize, delta: i64) {
        this_cpu_add(self.this_cpu(which, idx), delta as u64)
    }

    /// `this_cpu_inc`/`this_cpu_dec` run on `cpu` (a migrated reader's unlock).
    #[track_caller]
    fn cpu_add(self, cpu: usize, which: usize, idx: usize, delta: i64) {
        this_cpu_add(self.counter(cpu, which, idx), delta as u64)
    }
}

/// The `smp_mb()`s of the SRCU implementations, by the letters `docs/srcu.md` gives them (and the
/// `rcu_seq_*` helpers' own). [`Config::with_srcu_drop_mb`](crate::config::Config::with_srcu_drop_mb)
/// removes some, to show under the `lkmm` memory model that each is needed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SrcuMb {
    /// Updater, before reading the counters (`srcu_readers_active_idx_check`).
    A,
    /// Reader, after its counter increment (`__srcu_read_lock`).
    B,
    /// Reader, before its counter decrement (`__srcu_read_unlock`).
    C,
    /// Updater, after summing the counters (classic) or after the flip (tree).
    D,
    /// Tree: before the index flip.
    E,
    /// Tree: `rcu_seq_start`, after the store that starts the grace period.
    SeqStart,
    /// Tree: `rcu_seq_end`, before the store that ends the grace period.
    SeqEnd,
    /// Tree: `rcu_seq_snap`, after its load of `srcu_gp_seq`.
    SeqSnap,
    /// Tree: `srcu_gp_start`, before `rcu_seq_start`.
    GpStart,
    /// Tree: the end of `synchronize_srcu`, after its wait.
    SyncEnd,
    /// Tree: `get_state_synchronize_srcu`, before its snapshot.
    GetState,
    /// Tree: `poll_state_synchronize_srcu`, after it saw the grace period done.
    Poll,
}

impl SrcuMb {
    /// Its bit in [`Config::srcu_drop_mb`](crate::config::Config::srcu_drop_mb).
    pub const fn bit(self) -> u32 {
        1 << self as u32
    }
}

/// The `smp_mb()` an SRCU implementation issues at `which`, unless a mutant configuration removed
/// it.
#[track_caller]
pub(super) fn srcu_mb(which: SrcuMb) {
    if engine::config().srcu_drop_mb & which.bit() == 0 {
        super::mem::smp_mb_at(std::panic::Location::caller());
    }
}

/// `DEFINE_STATIC_SRCU(name)` / `init_srcu_struct(ssp)`: a new SRCU domain running `flavor`. A
/// tree domain gets the kworker that runs its grace-period work; end it with
/// [`cleanup_srcu_struct`].
#[track_caller]
pub fn init_srcu_struct(flavor: SrcuFlavor) -> SrcuStruct {
    let caller = Location::caller();
    let sp: SrcuObj = super::define_static();
    let layout = match flavor.base() {
        SrcuFlavor::Classic => CLASSIC_COUNTERS,
        SrcuFlavor::ClassicSched => CLASSIC_SCHED_COUNTERS,
        SrcuFlavor::SmallCounters => CLASSIC_BATCH_COUNTERS,
        SrcuFlavor::ClassicBatch => CLASSIC_BATCH_COUNTERS,
        SrcuFlavor::Tree => TREE_COUNTERS,
        _ => NAIVE_COUNTERS,
    };
    debug_assert_eq!(layout.len(), MAX_CPUS * PER_CPU);
    let percpu = engine::alloc(layout, ObjKind::Static, "DEFINE", caller);
    let ssp = SrcuStruct { sp, percpu, flavor };
    match flavor.base() {
        SrcuFlavor::Classic => classic::init(ssp),
        SrcuFlavor::ClassicSched => classic_sched::init(ssp),
        SrcuFlavor::SmallCounters => small_counters::init(ssp),
        SrcuFlavor::ClassicBatch => classic_batch::init(ssp),
        SrcuFlavor::Tree => tree::init(ssp),
        _ => {}
    }
    ssp
}

/// `cleanup_srcu_struct(ssp)`: the domain's kworkers (tree, classic v3.5+) finish.
#[track_caller]
pub fn cleanup_srcu_struct(ssp: SrcuStruct) {
    match ssp.flavor.base() {
        SrcuFlavor::Tree => tree::cleanup(ssp),
        SrcuFlavor::ClassicBatch => classic_batch::cleanup(ssp),
        _ => {}
    }
}

/// `srcu_read_lock(ssp)`: enter a read-side critical section; pass the returned index to
/// [`srcu_read_unlock`].
#[track_caller]
pub fn srcu_read_lock(ssp: SrcuStruct) -> usize {
    let _f = KFunc::enter("srcu_read_lock");
    match ssp.flavor.base() {
        SrcuFlavor::Classic => classic::read_lock(ssp),
        SrcuFlavor::ClassicSched => classic_sched::read_lock(ssp),
        SrcuFlavor::SmallCounters => small_counters::read_lock(ssp),
        SrcuFlavor::ClassicBatch => classic_batch::read_lock(ssp),
        SrcuFlavor::Tree => tree::read_lock(ssp),
        SrcuFlavor::Guarantee => guarantee::read_lock(ssp),
        _ => naive::read_lock(ssp),
    }
}

/// `srcu_read_unlock(ssp, idx)`.
#[track_caller]
pub fn srcu_read_unlock(ssp: SrcuStruct, idx: usize) {
    let _f = KFunc::enter("srcu_read_unlock");
    match ssp.flavor.base() {
        SrcuFlavor::Classic => classic::read_unlock(ssp, idx),
        SrcuFlavor::ClassicSched => classic_sched::read_unlock(ssp, idx),
        SrcuFlavor::SmallCounters => small_counters::read_unlock(ssp, idx),
        SrcuFlavor::ClassicBatch => classic_batch::read_unlock(ssp, idx),
        SrcuFlavor::Tree => tree::read_unlock(ssp, idx),
        SrcuFlavor::Guarantee => guarantee::read_unlock(ssp, idx),
        _ => naive::read_unlock(ssp, idx),
    }
}

/// `synchronize_srcu(ssp)`: wait for every reader that entered before the call. With the
/// grace-period oracle on, its return is checked against that promise.
#[track_caller]
pub fn synchronize_srcu(ssp: SrcuStruct) {
    let _f = KFunc::enter("synchronize_srcu");
    synchronize(ssp, false, "synchronize_srcu");
}

/// `synchronize_srcu_expedited(ssp)`: the same promise, asked for urgently. Tree SRCU records
/// the request in `srcu_gp_seq_needed_exp`, which in the kernel only shortens the worker's
/// delays (not modeled: a model delay is already as short as the scheduler makes it); classic
/// SRCU v3.4 only spins longer before sleeping in `wait_idx`, which is the same here.
#[track_caller]
pub fn synchronize_srcu_expedited(ssp: SrcuStruct) {
    let _f = KFunc::enter("synchronize_srcu_expedited");
    synchronize(ssp, true, "synchronize_srcu_expedited");
}

fn synchronize(ssp: SrcuStruct, expedited: bool, name: &'static str) {
    let invoked = engine::rcu::step();
    match ssp.flavor.base() {
        SrcuFlavor::Classic => classic::synchronize(ssp),
        SrcuFlavor::ClassicSched => classic_sched::synchronize(ssp),
        SrcuFlavor::SmallCounters => small_counters::synchronize(ssp),
        SrcuFlavor::ClassicBatch => classic_batch::synchronize(ssp, expedited),
        SrcuFlavor::Tree => tree::synchronize(ssp, !expedited),
        SrcuFlavor::Guarantee => guarantee::synchronize(ssp),
        _ => naive::synchronize(ssp),
    }
    if !engine::failed() {
        engine::rcu::srcu_gp_check(ssp.sp.0, invoked, name);
    }
}

/// `srcu_barrier(ssp)`: wait for the callbacks already queued on `ssp` to be invoked. Not a
/// grace period in tree SRCU: with no callback queued it returns at once, whatever readers are
/// inside (`docs/srcu.md`, §B5). In classic SRCU v3.5 to v4.11 it was `synchronize_srcu`, a full
/// grace period (checked by the grace-period oracle like one). Classic SRCU v3.4 has no
/// `call_srcu` and no `srcu_barrier`, nor has the naive SRCU.
#[track_caller]
pub fn srcu_barrier(ssp: SrcuStruct) {
    let _f = KFunc::enter("srcu_barrier");
    match ssp.flavor.base() {
        SrcuFlavor::Tree => tree::barrier(ssp),
        SrcuFlavor::ClassicBatch => synchronize(ssp, false, "srcu_barrier"),
        f => panic!("srcu_barrier: the {f:?} SRCU has no callbacks and no srcu_barrier"),
    }
}

/// `srcu_dereference(p, ssp)`: load a pointer published with `rcu_assign_pointer` (`READ_ONCE`
/// plus the address dependency, like [`rcu_dereference`](super::rcu_dereference)).
#[track_caller]
pub fn srcu_dereference<T: Value>(p: Word<T>, _ssp: SrcuStruct) -> T {
    super::rcu::dereference(p, "srcu_dereference", Location::caller())
}

/// The reader has counted itself in on `idx` (after its increment).
fn entered(ssp: SrcuStruct, idx: usize) {
    engine::rcu::srcu_enter(ssp.sp.0, idx)
}

/// The reader has counted itself out of `idx`.
fn exited(ssp: SrcuStruct, idx: usize) {
    engine::rcu::srcu_exit(ssp.sp.0, idx)
}

/// Retry `check` until it holds, sleeping until a reader writes a counter between tries (a
/// `wait_idx` retry loop, or a delayed requeue).
fn wait_until(ssp: SrcuStruct, mut check: impl FnMut() -> bool) {
    loop {
        let seen = engine::generation(ssp.percpu);
        if check() || engine::failed() {
            return;
        }
        engine::wait_for_write(ssp.percpu, seen);
        if engine::failed() {
            return;
        }
    }
}

/// `queue_work`/`queue_delayed_work` of one of a domain's work items: set its pending bit, and
/// wake its kworker if the item was not pending already (a work item never runs twice at once).
fn queue_work(pending: Word<u64>, kworker: Word<Task>) {
    if super::xchg(pending, 1) == 0 {
        super::wake_up_process(read_once(kworker));
    }
}

/// The kworker of one of `ssp`'s work items: it sleeps until the item is queued, clears the
/// pending bit and runs it. A run that found readers returns the counters' generation it saw, and
/// the delayed requeue (its timer, modeled) waits until a reader writes a counter before the
/// item runs again. Ends when `cleanup_srcu_struct` sets `work_stop`, completing `exited`.
fn kworker(ssp: SrcuStruct, pending: Word<u64>, exited: Completion, mut work: impl FnMut() -> Option<u64>) {
    let mut retry: Option<u64> = None;
    loop {
        if let Some(seen) = retry.take() {
            engine::wait_for_write(ssp.percpu, seen);
        }
        if engine::failed() {
            return;
        }
        super::set_current_state_uninterruptible();
        if read_once(ssp.sp.work_stop()) {
            super::set_current_state_running();
            break;
        }
        if super::xchg(pending, 0) == 0 {
            super::schedule();
            continue;
        }
        super::set_current_state_running();
        retry = work();
    }
    super::complete(exited);
}

/// The per-CPU fields' names (at the end of the file, so that adding CPUs moves no line that a
/// checked-in trace records).
const CPU_NAMES: [&str; MAX_CPUS] = [
    "cpu0", "cpu1", "cpu2", "cpu3", "cpu4", "cpu5", "cpu6", "cpu7", "cpu8", "cpu9", "cpu10", "cpu11",
    "cpu12", "cpu13", "cpu14", "cpu15", "cpu16", "cpu17", "cpu18", "cpu19", "cpu20", "cpu21", "cpu22",
    "cpu23", "cpu24", "cpu25", "cpu26", "cpu27", "cpu28", "cpu29", "cpu30", "cpu31", "cpu32",
];

/// What [`start_poll_synchronize_srcu`] and [`get_state_synchronize_srcu`] return: the kernel's
/// `unsigned long` cookie (a value of `srcu_gp_seq`), and the step it was taken at, so that the
/// grace-period oracle can check [`poll_state_synchronize_srcu`]'s answer.
///
/// The oracle judges "entered before" by step order. For `start_poll` that is sound under
/// `lkmm` too: its own `srcu_read_lock` and barrier B come before its snapshot, so the snapshot
/// sees every reader's increment from an earlier step. `get_state` has no such anchor (its barrier
/// orders only the caller's own accesses): a reader may count itself in at an earlier step with a
/// stale index while the snapshot reads a stale `srcu_gp_seq`, which LKMM allows, and then saw the
/// updater's unpublish anyway. So under `lkmm` a `get_state` cookie is not checked by the oracle;
/// what it protects is still checked by the use-after-free and race detectors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SrcuCookie {
    seq: u64,
    /// `None`: not checked by the grace-period oracle.
    invoked: Option<u64>,
}

/// The polled grace-period API is tree SRCU's (v5.11+).
fn polled(ssp: SrcuStruct, name: &str) {
    if ssp.flavor.base() != SrcuFlavor::Tree {
        panic!(
            "{name}: the {:?} SRCU has no polled grace periods (tree SRCU only)",
            ssp.flavor
        );
    }
}

/// `get_state_synchronize_srcu(ssp)`: a cookie for the first grace period that starts after now,
/// without asking for one (tree SRCU only).
#[track_caller]
pub fn get_state_synchronize_srcu(ssp: SrcuStruct) -> SrcuCookie {
    let _f = KFunc::enter("get_state_synchronize_srcu");
    polled(ssp, "get_state_synchronize_srcu");
    let invoked = (!engine::rcu::weak_memory()).then(engine::rcu::step);
    SrcuCookie {
        seq: tree::get_state(ssp),
        invoked,
    }
}

/// `start_poll_synchronize_srcu(ssp)`: the same cookie, and that grace period is requested
/// (tree SRCU only).
#[track_caller]
pub fn start_poll_synchronize_srcu(ssp: SrcuStruct) -> SrcuCookie {
    let _f = KFunc::enter("start_poll_synchronize_srcu");
    polled(ssp, "start_poll_synchronize_srcu");
    let invoked = Some(engine::rcu::step());
    SrcuCookie {
        seq: tree::start_poll(ssp),
        invoked,
    }
}

/// `poll_state_synchronize_srcu(ssp, cookie)`: whether the cookie's grace period has ended, that
/// is, every reader that entered before the cookie was taken has left. With the grace-period
/// oracle on, a true answer is checked against that promise (not for a `get_state` cookie under
/// `lkmm`: see [`SrcuCookie`]).
#[track_caller]
pub fn poll_state_synchronize_srcu(ssp: SrcuStruct, cookie: SrcuCookie) -> bool {
    let _f = KFunc::enter("poll_state_synchronize_srcu");
    polled(ssp, "poll_state_synchronize_srcu");
    let done = tree::poll_state(ssp, cookie.seq);
    if let (true, Some(invoked)) = (done && !engine::failed(), cookie.invoked) {
        engine::rcu::srcu_gp_check(ssp.sp.0, invoked, "poll_state_synchronize_srcu");
    }
    done
}
