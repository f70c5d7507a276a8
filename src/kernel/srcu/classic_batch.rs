//! Classic SRCU as of v3.5 to v4.11 (`kernel/rcu/srcu.c`, Lai Jiangshan's `call_srcu` rework;
//! `docs/srcu.md`, §Classic SRCU v3.5 to v4.11): the SRCU of 2015, which the mmu_notifier code of
//! the HMM thread ran on.
//!
//! Readers count themselves in per-CPU `lock_count[idx]` and out in `unlock_count[idx]`, counters
//! that only grow. There is no mutex: whoever holds the `running` token, taken under
//! `queue_lock`, is the only one that flips `completed` and scans. A `synchronize_srcu` that finds
//! the token free steals it and advances the batches itself; one that finds it taken queues its
//! callback on `batch_queue` and sleeps. A callback goes from `batch_check0` (it needs a scan of
//! the inactive index, a flip and a scan of the other) through `batch_check1` (it needs the
//! second scan) to `batch_done`, all of it after it was queued. `process_srcu`, a delayed work
//! item, holds the token between callers. `srcu_barrier` is `synchronize_srcu`.
//!
//! Batches are `list_head`s here (the kernel's `rcu_batch` is a singly linked list with a tail
//! pointer); moving one batch onto another moves its entries one by one. The delays
//! (`udelay` between tries, `SRCU_INTERVAL` before the work runs again) are not modeled: a
//! requeued work waits until a reader writes a counter, when a retry could first succeed.

use super::{entered, exited, RcuSynchronize, SrcuStruct};
use super::{srcu_mb, SrcuFlavor, SrcuMb};
use crate::container_of;
use crate::engine;
use crate::kernel::{
    bug_on, complete, init_completion, init_list_head, list_add_tail, list_del, list_empty, list_first,
    read_once, smp_mb, spawn_cpu, spin_lock, spin_lock_init, spin_unlock, stack_alloc, stack_release,
    wait_for_completion, wake_up_process, write_once, KFunc, ListHead, Ptr,
};

const LOCK_COUNT: usize = 0;
const UNLOCK_COUNT: usize = 1;

/// `SYNCHRONIZE_SRCU_TRYCOUNT` and `SYNCHRONIZE_SRCU_EXP_TRYCOUNT`: scans a caller that owns the
/// token tries before leaving the rest to the work item.
const SYNCHRONIZE_SRCU_TRYCOUNT: u32 = 2;
const SYNCHRONIZE_SRCU_EXP_TRYCOUNT: u32 = 12;

/// `SRCU_CALLBACK_BATCH`: callbacks one run of the work item invokes.
const SRCU_CALLBACK_BATCH: usize = 10;

pub(super) fn init(ssp: SrcuStruct) {
    let sp = ssp.sp;
    spin_lock_init(sp.queue_lock());
    init_list_head(sp.batch_queue());
    init_list_head(sp.batch_check0());
    init_list_head(sp.batch_check1());
    init_list_head(sp.batch_done());
    init_completion(sp.work_exited());
    let kworker = spawn_cpu("kworker/srcu", move || srcu_kworker(ssp));
    sp.work_kworker().store(crate::kernel::Task(kworker.id()));
    // Not joined: `cleanup_srcu_struct` waits for the kworker's exit through `work_exited`.
    drop(kworker);
}

pub(super) fn cleanup(ssp: SrcuStruct) {
    let _f = KFunc::enter("cleanup_srcu_struct");
    write_once(ssp.sp.work_stop(), true);
    wake_up_process(read_once(ssp.sp.work_kworker()));
    wait_for_completion(ssp.sp.work_exited());
}

/// `__srcu_read_lock`: `idx = READ_ONCE(completed) & 1`, `__this_cpu_inc(lock_count[idx])`,
/// `smp_mb()` (B).
#[track_caller]
pub(super) fn read_lock(ssp: SrcuStruct) -> usize {
    let idx = (read_once(ssp.sp.completed()) & 1) as usize;
    ssp.this_cpu_add(LOCK_COUNT, idx, 1);
    entered(ssp, idx);
    srcu_mb(SrcuMb::B); // B
    idx
}

/// `__srcu_read_unlock`: `smp_mb()` (C), `this_cpu_inc(unlock_count[idx])` on the CPU the
/// reader now runs on.
#[track_caller]
pub(super) fn read_unlock(ssp: SrcuStruct, idx: usize) {
    let cpu = ssp.resumed_cpu();
    srcu_mb(SrcuMb::C); // C
    ssp.cpu_add(cpu, UNLOCK_COUNT, idx, 1);
    exited(ssp, idx);
}

/// `srcu_readers_active_idx_check`: the unlock sum, (A), then the lock sum; equal means no reader
/// is inside on `idx` (unlocks are read first, so a counted unlock has its lock counted).
fn srcu_readers_active_idx_check(ssp: SrcuStruct, idx: usize) -> bool {
    let unlocks = ssp.sum(UNLOCK_COUNT, idx);
    srcu_mb(SrcuMb::A); // A
    ssp.sum(LOCK_COUNT, idx) == unlocks
}

/// `try_check_zero`: up to `trycount` scans; on failure, the counters' generation before the
/// last one, for the work item's delayed retry.
fn try_check_zero(ssp: SrcuStruct, idx: usize, mut trycount: u32) -> Result<(), u64> {
    loop {
        let seen = engine::generation(ssp.percpu);
        if srcu_readers_active_idx_check(ssp, idx) {
            return Ok(());
        }
        trycount -= 1;
        if trycount == 0 || engine::failed() {
            return Err(seen);
        }
        // udelay(SRCU_RETRY_CHECK_DELAY)
    }
}

/// `srcu_flip`: `WRITE_ONCE(completed, completed + 1)`, `smp_mb()` (D).
fn srcu_flip(ssp: SrcuStruct) {
    let completed = ssp.sp.completed().load();
    write_once(ssp.sp.completed(), completed + 1);
    srcu_mb(SrcuMb::D); // D
}

/// `rcu_batch_move(to, from)`: every callback of `from` onto the tail of `to`.
fn rcu_batch_move(to: ListHead, from: ListHead) {
    while !list_empty(from) && !engine::failed() {
        let rcu = container_of!(list_first(from), RcuSynchronize, head);
        list_del(rcu.head());
        list_add_tail(rcu.head(), to);
    }
}

/// `srcu_advance_batches`, run only by the token's holder: the scan of the inactive index
/// finishes `batch_check1`; then a flip and a scan of the other index finish `batch_check0`.
/// On a failed scan, the counters' generation it saw.
fn srcu_advance_batches(ssp: SrcuStruct, trycount: u32) -> Result<(), u64> {
    let _f = KFunc::enter("srcu_advance_batches");
    let sp = ssp.sp;
    let idx = (1 ^ (sp.completed().load() & 1)) as usize;
    // Readers may be delayed for long after loading `completed`: both indices may have readers.
    if list_empty(sp.batch_check0()) && list_empty(sp.batch_check1()) {
        return Ok(()); // No callbacks need to be advanced.
    }
    if ssp.flavor() != SrcuFlavor::ClassicBatchWithoutStragglerScan {
        try_check_zero(ssp, idx, trycount)?;
    }
    // Callbacks in check1 passed their first scan and flip in an earlier call: done.
    rcu_batch_move(sp.batch_done(), sp.batch_check1());
    if list_empty(sp.batch_check0()) {
        return Ok(());
    }
    srcu_flip(ssp);
    rcu_batch_move(sp.batch_check1(), sp.batch_check0());
    // Read-side sections are normally short: try at least twice right after a flip.
    try_check_zero(ssp, idx ^ 1, trycount.max(2))?;
    rcu_batch_move(sp.batch_done(), sp.batch_check1());
    Ok(())
}

/// `srcu_reschedule`: give up the token if every batch is empty (re-checked under
/// `queue_lock`); otherwise queue the work item, which holds the token from now on.
fn srcu_reschedule(ssp: SrcuStruct) {
    let sp = ssp.sp;
    let mut pending = true;
    if batches_empty(ssp) {
        spin_lock(sp.queue_lock());
        if batches_empty(ssp) {
            sp.running().store(false);
            pending = false;
        }
        spin_unlock(sp.queue_lock());
    }
    if pending {
        queue_work(ssp);
    }
}

fn batches_empty(ssp: SrcuStruct) -> bool {
    let sp = ssp.sp;
    list_empty(sp.batch_done())
        && list_empty(sp.batch_check1())
        && list_empty(sp.batch_check0())
        && list_empty(sp.batch_queue())
}

/// `__synchronize_srcu(sp, trycount)`: queue `wakeme_after_rcu`; steal the token if it is free
/// and advance the batches, else leave it to the token's holder; sleep unless done.
pub(super) fn synchronize(ssp: SrcuStruct, expedited: bool) {
    let sp = ssp.sp;
    let trycount = if expedited {
        SYNCHRONIZE_SRCU_EXP_TRYCOUNT
    } else {
        SYNCHRONIZE_SRCU_TRYCOUNT
    };
    let rcu: RcuSynchronize = stack_alloc();
    init_completion(rcu.completion());
    let mut done = false;
    spin_lock(sp.queue_lock());
    smp_mb(); // smp_mb__after_unlock_lock: the caller's prior accesses come before the GP.
    if !sp.running().load() {
        // Steal the processing owner.
        sp.running().store(true);
        list_add_tail(rcu.head(), sp.batch_check0());
        spin_unlock(sp.queue_lock());
        let _ = srcu_advance_batches(ssp, trycount);
        if !list_empty(sp.batch_done()) {
            let first: Ptr = list_first(sp.batch_done());
            bug_on(first != rcu.head().addr(), "batch_done.head != head");
            list_del(rcu.head());
            done = true;
        }
        // Give the processing owner to the work item.
        srcu_reschedule(ssp);
    } else {
        list_add_tail(rcu.head(), sp.batch_queue());
        spin_unlock(sp.queue_lock());
    }
    if !done {
        wait_for_completion(rcu.completion());
        smp_mb(); // The caller's later accesses come after the GP.
    }
    stack_release(rcu);
}

/// `queue_delayed_work(system_power_efficient_wq, &sp->work, delay)`.
fn queue_work(ssp: SrcuStruct) {
    super::queue_work(ssp.sp.work_pending(), ssp.sp.work_kworker());
}

/// The kworker that runs `sp->work`. After a scan found readers, the work waits for a reader to
/// move (the `SRCU_INTERVAL` delay, modeled) before it runs again.
fn srcu_kworker(ssp: SrcuStruct) {
    super::kworker(ssp, ssp.sp.work_pending(), ssp.sp.work_exited(), || {
        process_srcu(ssp)
    });
}

/// `process_srcu`: collect the new callbacks, advance the batches, invoke the done ones,
/// reschedule.
fn process_srcu(ssp: SrcuStruct) -> Option<u64> {
    let _f = KFunc::enter("process_srcu");
    let sp = ssp.sp;
    // srcu_collect_new
    if !list_empty(sp.batch_queue()) {
        spin_lock(sp.queue_lock());
        rcu_batch_move(sp.batch_check0(), sp.batch_queue());
        spin_unlock(sp.queue_lock());
    }
    let retry = srcu_advance_batches(ssp, 1).err();
    srcu_invoke_callbacks(ssp);
    srcu_reschedule(ssp);
    retry
}

/// `srcu_invoke_callbacks`: up to `SRCU_CALLBACK_BATCH` callbacks off `batch_done`
/// (`wakeme_after_rcu`: `complete`).
fn srcu_invoke_callbacks(ssp: SrcuStruct) {
    let sp = ssp.sp;
    let mut i = 0;
    while i < SRCU_CALLBACK_BATCH && !list_empty(sp.batch_done()) && !engine::failed() {
        let rcu = container_of!(list_first(sp.batch_done()), RcuSynchronize, head);
        list_del(rcu.head());
        complete(rcu.completion());
        i += 1;
    }
}
