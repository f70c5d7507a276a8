//! Classic SRCU as of 2.6.19 to v3.3 (`kernel/srcu.c`, Paul McKenney's original; `docs/srcu.md`,
//! §Classic SRCU 2.6.19 to v3.3). One per-CPU counter per index, no reader-side `smp_mb()`:
//! the read side's only ordering is that its counter update runs with preemption disabled, and
//! `__synchronize_srcu` forces a memory barrier on every CPU with `synchronize_sched()`, three
//! times, under the SRCU-internal `mutex`. A caller whose snapshot of `completed` is two flips
//! old returns early: someone else did both flips for it.
//!
//! The preempt-disabled regions are RCU-sched read-side sections and `synchronize_sched()` is
//! `synchronize_rcu()` (the flavors are one since v4.20; in the model they are RCU's domain, which
//! no harness using this SRCU uses for anything else). Under `lkmm` a grace period orders a
//! region that began after its start after everything that preceded the start, and a region that
//! ended before its end before everything after it; that is the whole "memory barrier on every
//! CPU" the code comments rely on, and no more.
//!
//! Each `synchronize_sched()` is needed, and so is the threshold of two flips; each has a mutant
//! flavor (`tests/srcu_mutants.rs`):
//!
//! * before the flip: a reader that sees the new `completed` must see the caller's update, or it
//!   reads the old pointer on an index nobody will wait for;
//! * after the flip: every `srcu_read_lock` that loaded the old `completed` has incremented its
//!   counter before the wait (no stragglers, the B1′ failure);
//! * after the wait: the readers' critical sections, which the compiler-only barrier in
//!   `srcu_read_unlock` lets the CPU reorder after the decrement, are over before the caller
//!   frees anything;
//! * threshold one (B3, [`SrcuFlavor::ClassicSchedEarlyExit`](super::SrcuFlavor)): a caller that
//!   arrives after its helper's first `synchronize_sched()` is not covered by it.

use super::{entered, exited, wait_until, SrcuFlavor, SrcuStruct};
use crate::kernel::{
    mutex_init, mutex_lock, mutex_unlock, rcu_read_lock_sched, rcu_read_unlock_sched, read_once,
    synchronize_sched, write_once, KFunc,
};

const C: usize = 0;

pub(super) fn init(ssp: SrcuStruct) {
    mutex_init(ssp.sp.mutex());
}

/// `srcu_read_lock`: `preempt_disable()`, `idx = completed & 1`, `barrier()`, `c[idx]++`,
/// `srcu_barrier()` (a compiler barrier), `preempt_enable()`.
#[track_caller]
pub(super) fn read_lock(ssp: SrcuStruct) -> usize {
    rcu_read_lock_sched();
    let idx = (read_once(ssp.sp.completed()) & 1) as usize;
    ssp.this_cpu_add(C, idx, 1);
    entered(ssp, idx);
    rcu_read_unlock_sched();
    idx
}

/// `srcu_read_unlock`: `preempt_disable()`, `srcu_barrier()`, `c[idx]--` on the CPU the reader
/// now runs on, `preempt_enable()`. No memory barrier: the critical section's loads may still be
/// in flight after the decrement.
#[track_caller]
pub(super) fn read_unlock(ssp: SrcuStruct, idx: usize) {
    let cpu = ssp.resumed_cpu();
    rcu_read_lock_sched();
    ssp.cpu_add(cpu, C, idx, -1);
    exited(ssp, idx);
    rcu_read_unlock_sched();
}

/// `srcu_readers_active_idx`: the sum of `c[idx]` over the possible CPUs.
fn readers_active_idx(ssp: SrcuStruct, idx: usize) -> bool {
    ssp.sum(C, idx) != 0
}

/// `__synchronize_srcu(sp, synchronize_sched)`.
#[track_caller]
pub(super) fn synchronize(ssp: SrcuStruct) {
    let f = ssp.flavor();
    let threshold = if f == SrcuFlavor::ClassicSchedEarlyExit {
        1
    } else {
        2
    };
    let snap = read_once(ssp.sp.completed());
    mutex_lock(ssp.sp.mutex());
    // Someone else did the work for us while we waited for the mutex: two flips, not one, or we
    // may have shown up after our helper's first synchronize_sched().
    if ssp.sp.completed().load().wrapping_sub(snap) >= threshold {
        mutex_unlock(ssp.sp.mutex());
        return;
    }
    if f != SrcuFlavor::ClassicSchedWithoutSyncBeforeFlip {
        // Any CPU that sees the new `completed` also sees this CPU's earlier updates.
        synchronize_sched();
    }
    let completed = ssp.sp.completed().load();
    let idx = (completed & 1) as usize;
    write_once(ssp.sp.completed(), completed + 1);
    if f != SrcuFlavor::ClassicSchedWithoutSyncAfterFlip {
        // Every srcu_read_lock that used the old index has finished its increment.
        synchronize_sched();
    }
    {
        let _w = KFunc::enter("srcu_readers_active_idx");
        wait_until(ssp, || !readers_active_idx(ssp, idx));
    }
    if f != SrcuFlavor::ClassicSchedWithoutSyncAfterWait {
        // The srcu_read_unlock()s seen by the sum, and the critical sections the CPU may have
        // reordered after them, are over. Inside the mutex: a caller taking the early exit
        // relies on it too.
        synchronize_sched();
    }
    mutex_unlock(ssp.sp.mutex());
}
