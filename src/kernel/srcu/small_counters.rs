//! B4 of `docs/srcu.md`: classic SRCU v3.5's counters and check (`srcu_readers_active_idx_check`:
//! the unlock sum, `smp_mb()`, the lock sum, equal means no reader), with counters too small to
//! never wrap, and callers that scan and flip for themselves instead of one at a time.
//!
//! The check is exact only while the counters cannot wrap during a scan. The kernel's argument
//! (the comment above `srcu_readers_active_idx_check`) is that while one scan runs the index
//! does not change, so the only locks the scanned index can gain are stragglers', at most one per
//! task, far fewer than `ULONG_MAX`. Let another caller flip meanwhile and any number of new
//! readers can lock and unlock on the scanned index between its two sums: a multiple of the
//! counters' range of them makes the sums equal while a reader is still inside.
//!
//! Counters here are [`COUNTER_BITS`] bits wide, not 8 or 64, so that the wrap takes three
//! lock/unlock pairs instead of 255: the argument is the same at every width, and a vCPU that
//! enters and leaves its read side a few times (as `vcpu_run` does around each guest entry)
//! reaches it. The model keeps the counts whole and reduces the sums to that width where they
//! are compared, which is what wrapping counters and sums give.
//!
//! * [`SrcuFlavor::SmallCounters`]: callers unserialized: breaks (B4).
//! * [`SmallCountersSerialized`](SrcuFlavor::SmallCountersSerialized): the same counters,
//!   callers serialized on the SRCU's mutex (as the `running` token and tree SRCU's single
//!   worker serialize them): the index holds still during a scan, and with fewer tasks than the
//!   counters' range it passes.
//! * [`SmallCountersWide`](SrcuFlavor::SmallCountersWide): callers unserialized, counters that
//!   do not wrap: passes, which shows the wrap, not the concurrency, is what breaks B4 (every
//!   caller scans both indices after it was invoked, so an exact check is enough).

use super::{entered, exited, wait_until, SrcuFlavor, SrcuStruct};
use crate::kernel::{
    mutex_init, mutex_lock, mutex_unlock, read_once, smp_mb, spin_lock, spin_lock_init, spin_unlock,
    write_once, KFunc,
};

const LOCK_COUNT: usize = 0;
const UNLOCK_COUNT: usize = 1;

/// The width of the per-CPU counters and of their sums.
pub const COUNTER_BITS: u32 = 2;

pub(super) fn init(ssp: SrcuStruct) {
    mutex_init(ssp.sp.mutex());
    spin_lock_init(ssp.sp.queue_lock());
}

/// `__srcu_read_lock`: `idx = READ_ONCE(completed) & 1`, `lock_count[idx]++`, `smp_mb()`.
#[track_caller]
pub(super) fn read_lock(ssp: SrcuStruct) -> usize {
    let idx = (read_once(ssp.sp.completed()) & 1) as usize;
    ssp.this_cpu_add(LOCK_COUNT, idx, 1);
    entered(ssp, idx);
    smp_mb();
    idx
}

/// `__srcu_read_unlock`: `smp_mb()`, `unlock_count[idx]++` on the CPU the reader now runs on.
#[track_caller]
pub(super) fn read_unlock(ssp: SrcuStruct, idx: usize) {
    let cpu = ssp.resumed_cpu();
    smp_mb();
    ssp.cpu_add(cpu, UNLOCK_COUNT, idx, 1);
    exited(ssp, idx);
}

/// `srcu_readers_active_idx_check` in `COUNTER_BITS`-bit arithmetic (full width for the wide
/// twin).
fn srcu_readers_active_idx_check(ssp: SrcuStruct, idx: usize) -> bool {
    let mask = match ssp.flavor() {
        SrcuFlavor::SmallCountersWide => u64::MAX,
        _ => (1 << COUNTER_BITS) - 1,
    };
    let unlocks = ssp.sum(UNLOCK_COUNT, idx);
    smp_mb();
    let locks = ssp.sum(LOCK_COUNT, idx);
    locks.wrapping_sub(unlocks) & mask == 0
}

fn wait_zero(ssp: SrcuStruct, idx: usize) {
    let _f = KFunc::enter("try_check_zero");
    wait_until(ssp, || srcu_readers_active_idx_check(ssp, idx));
}

/// The caller advances the grace period itself, in classic v3.4's order: wait for the inactive
/// index, flip, wait for the index that was active when it began (computed once, as v3.4's
/// `busy_idx`, so that it scans both indices even when another caller flips in between).
/// Concurrent callers may flip while another one scans.
#[track_caller]
pub(super) fn synchronize(ssp: SrcuStruct) {
    let serialized = ssp.flavor() == SrcuFlavor::SmallCountersSerialized;
    // Every caller queues its request under `queue_lock`, as classic v3.5's does; what it does
    // not take is the `running` token, which is what serializes the scans.
    spin_lock(ssp.sp.queue_lock());
    spin_unlock(ssp.sp.queue_lock());
    if serialized {
        mutex_lock(ssp.sp.mutex());
    }
    smp_mb();
    let busy_idx = (read_once(ssp.sp.completed()) & 1) as usize;
    wait_zero(ssp, 1 - busy_idx);
    // srcu_flip: another caller may flip at the same time (READ_ONCE: its flip is concurrent).
    write_once(ssp.sp.completed(), read_once(ssp.sp.completed()) + 1);
    smp_mb();
    wait_zero(ssp, busy_idx);
    smp_mb();
    if serialized {
        mutex_unlock(ssp.sp.mutex());
    }
}
