//! Tree SRCU as of v6.0 (`kernel/rcu/srcutree.c`; `docs/srcu.md`, §Tree SRCU v6.0), with the small
//! configuration every model here runs in (`SRCU_SIZE_SMALL`: no `srcu_node` funnel, every
//! callback on CPU 0's `srcu_data`).
//!
//! Callers never touch the index or the counters. A `synchronize_srcu` snapshots the grace
//! period it needs (`rcu_seq_snap`: one that starts after the snapshot), queues a callback tagged
//! with it, makes sure a grace period is requested, and sleeps on a completion. One kworker runs
//! the grace-period state machine (`process_srcu` → `srcu_advance_state`) under `srcu_gp_mutex`:
//! in SCAN1 it waits for stragglers on the inactive index and flips; in SCAN2 it waits for the
//! readers of the index that was active; `srcu_gp_end` then runs the callbacks whose grace period
//! has ended. Concurrent callers are safe by construction (`docs/srcu.md`, §Concurrent
//! `synchronize_srcu` callers).
//! `synchronize_srcu_expedited` takes the same path and records its request in the `_exp`
//! fields; `srcu_barrier` entrains a callback behind the last one queued, if any.
//!
//! `srcu_gp_end` queues CPU 0's `srcu_data` work, and callbacks run there, on a kworker of their
//! own (`srcu_invoke_callbacks`), while the grace-period kworker may already start the next grace
//! period. That kworker decides which callbacks are ready by `rcu_seq_current` (a `READ_ONCE`
//! of `srcu_gp_seq`); when it is already running as a grace period ends, what orders the
//! callback after the scans is the control dependency from that load to the callback's stores
//! (`ctrl_dep`).
//!
//! Not modeled: the delays (expedited or not: a model delay is as short as the scheduler makes
//! it), the `srcu_barrier_seq` early exit and the counter-wrap bound.
//!
//! The barrier letters A to E are the kernel's (`docs/srcu.md`, §The barriers A to E).

use super::{entered, exited, RcuSynchronize, SrcuStruct};
use super::{srcu_mb, SrcuMb};
use crate::container_of;
use crate::engine;
use crate::kernel::mem::ctrl_dep;
use crate::kernel::{
    complete, init_completion, init_list_head, list_add_tail, list_del, mutex_init, mutex_lock, mutex_unlock,
    read_once, smp_load_acquire, smp_store_release, spawn_cpu, spin_lock, spin_lock_init, spin_unlock,
    stack_alloc, stack_release, wait_for_completion, wake_up_process, write_once, KFunc, Ptr, Word,
};

const LOCK_COUNT: usize = 0;
const UNLOCK_COUNT: usize = 1;

/// The state bits of `srcu_gp_seq`.
const RCU_SEQ_STATE_MASK: u64 = 3;
const SRCU_STATE_IDLE: u64 = 0;
const SRCU_STATE_SCAN1: u64 = 1;
const SRCU_STATE_SCAN2: u64 = 2;

fn rcu_seq_state(s: u64) -> u64 {
    s & RCU_SEQ_STATE_MASK
}

/// `rcu_seq_start`: the counter enters SCAN1.
#[track_caller]
fn rcu_seq_start(sp: Word<u64>) {
    write_once(sp, sp.load() + 1);
    srcu_mb(SrcuMb::SeqStart);
}

/// `rcu_seq_end`: to the next multiple of four, state IDLE.
#[track_caller]
fn rcu_seq_end(sp: Word<u64>) {
    srcu_mb(SrcuMb::SeqEnd);
    write_once(sp, (sp.load() | RCU_SEQ_STATE_MASK) + 1);
}

/// `rcu_seq_snap`: the end of the first grace period that starts after now. While one is in
/// progress that is the one after it. The barrier comes after the load, as in v6.0's
/// `kernel/rcu/rcu.h`: it keeps the load from bleeding into what the caller does next.
#[track_caller]
fn rcu_seq_snap(sp: Word<u64>) -> u64 {
    let s = (read_once(sp) + 2 * RCU_SEQ_STATE_MASK + 1) & !RCU_SEQ_STATE_MASK;
    srcu_mb(SrcuMb::SeqSnap);
    s
}

/// `rcu_seq_done(sp, s)`.
#[track_caller]
fn rcu_seq_done(sp: Word<u64>, s: u64) -> bool {
    read_once(sp) >= s
}

/// `rcu_seq_set_state`.
#[track_caller]
fn rcu_seq_set_state(sp: Word<u64>, state: u64) {
    write_once(sp, (sp.load() & !RCU_SEQ_STATE_MASK) | state);
}

pub(super) fn init(ssp: SrcuStruct) {
    let sp = ssp.sp;
    spin_lock_init(sp.lock());
    mutex_init(sp.srcu_gp_mutex());
    mutex_init(sp.srcu_cb_mutex());
    mutex_init(sp.srcu_barrier_mutex());
    init_list_head(sp.srcu_cblist());
    spin_lock_init(sp.srcu_cblist_lock());
    init_completion(sp.work_exited());
    init_completion(sp.sdp_work_exited());
    let kworker = spawn_cpu("kworker/srcu", move || srcu_kworker(ssp));
    sp.work_kworker().store(crate::kernel::Task(kworker.id()));
    let cb_kworker = spawn_cpu("kworker/srcu_cb", move || srcu_cb_kworker(ssp));
    sp.sdp_work_kworker().store(crate::kernel::Task(cb_kworker.id()));
    // Not joined: `cleanup_srcu_struct` waits for the kworkers' exit through their completions.
    drop(kworker);
    drop(cb_kworker);
}

pub(super) fn cleanup(ssp: SrcuStruct) {
    let _f = KFunc::enter("cleanup_srcu_struct");
    write_once(ssp.sp.work_stop(), true);
    wake_up_process(read_once(ssp.sp.work_kworker()));
    wait_for_completion(ssp.sp.work_exited());
    wake_up_process(read_once(ssp.sp.sdp_work_kworker()));
    wait_for_completion(ssp.sp.sdp_work_exited());
}

/// `__srcu_read_lock`: `idx = READ_ONCE(srcu_idx) & 1`, `this_cpu_inc(srcu_lock_count[idx])`,
/// `smp_mb()` (B).
#[track_caller]
pub(super) fn read_lock(ssp: SrcuStruct) -> usize {
    let idx = (read_once(ssp.sp.srcu_idx()) & 1) as usize;
    ssp.this_cpu_add(LOCK_COUNT, idx, 1);
    entered(ssp, idx);
    srcu_mb(SrcuMb::B); // B
    idx
}

/// `__srcu_read_unlock`: `smp_mb()` (C), `this_cpu_inc(srcu_unlock_count[idx])` on the CPU the
/// reader now runs on, which need not be the CPU of its lock.
#[track_caller]
pub(super) fn read_unlock(ssp: SrcuStruct, idx: usize) {
    let cpu = ssp.resumed_cpu();
    srcu_mb(SrcuMb::C); // C
    ssp.cpu_add(cpu, UNLOCK_COUNT, idx, 1);
    exited(ssp, idx);
}

/// `__synchronize_srcu(ssp, do_norm)`: queue `wakeme_after_rcu` and sleep until it runs.
/// `synchronize_srcu_expedited` passes `do_norm = false`.
pub(super) fn synchronize(ssp: SrcuStruct, do_norm: bool) {
    let rcu: RcuSynchronize = stack_alloc();
    init_completion(rcu.completion());
    srcu_gp_start_if_needed(ssp, Some(rcu), do_norm);
    wait_for_completion(rcu.completion());
    stack_release(rcu);
    srcu_mb(SrcuMb::SyncEnd); // The caller's later accesses come after the grace period.
}

/// `srcu_gp_start_if_needed` (`__call_srcu`): enqueue the callback, if any, tagged with the
/// grace period it needs, and request that grace period; returns its cookie.
fn srcu_gp_start_if_needed(ssp: SrcuStruct, rhp: Option<RcuSynchronize>, do_norm: bool) -> u64 {
    let _f = KFunc::enter("srcu_gp_start_if_needed");
    let sp = ssp.sp;
    // Pins srcu_gp_seq against wrap while this runs; a real read-side section.
    let idx = super::srcu_read_lock(ssp);
    spin_lock(sp.srcu_cblist_lock());
    if let Some(rcu) = rhp {
        list_add_tail(rcu.head(), sp.srcu_cblist());
    }
    let s = rcu_seq_snap(sp.srcu_gp_seq());
    if let Some(rcu) = rhp {
        rcu.gp_seq().store(s); // rcu_segcblist_accelerate
    }
    let needgp = sp.sda_gp_seq_needed().load() < s;
    if needgp {
        sp.sda_gp_seq_needed().store(s);
    }
    let needexp = !do_norm && sp.sda_gp_seq_needed_exp().load() < s;
    if needexp {
        sp.sda_gp_seq_needed_exp().store(s);
    }
    spin_unlock(sp.srcu_cblist_lock());
    if needgp {
        srcu_funnel_gp_start(ssp, s, do_norm);
    } else if needexp {
        srcu_funnel_exp_start(ssp, s);
    }
    super::srcu_read_unlock(ssp, idx);
    s
}

/// `get_state_synchronize_srcu`: the cookie of the first grace period that starts after now,
/// without asking for it.
pub(super) fn get_state(ssp: SrcuStruct) -> u64 {
    // The caller's earlier updates come before the load of srcu_gp_seq.
    srcu_mb(SrcuMb::GetState);
    rcu_seq_snap(ssp.sp.srcu_gp_seq())
}

/// `start_poll_synchronize_srcu`: the same cookie, and that grace period is requested.
pub(super) fn start_poll(ssp: SrcuStruct) -> u64 {
    srcu_gp_start_if_needed(ssp, None, true)
}

/// `poll_state_synchronize_srcu`: whether the grace period of `cookie` has ended.
pub(super) fn poll_state(ssp: SrcuStruct, cookie: u64) -> bool {
    if !rcu_seq_done(ssp.sp.srcu_gp_seq(), cookie) {
        return false;
    }
    // The end of the grace period happens before anything the caller does next.
    srcu_mb(SrcuMb::Poll);
    true
}

/// `srcu_funnel_exp_start`, at the root: record an expedited need for a grace period someone
/// else already requested.
fn srcu_funnel_exp_start(ssp: SrcuStruct, s: u64) {
    let _f = KFunc::enter("srcu_funnel_exp_start");
    let sp = ssp.sp;
    spin_lock(sp.lock());
    if sp.srcu_gp_seq_needed_exp().load() < s {
        write_once(sp.srcu_gp_seq_needed_exp(), s);
    }
    spin_unlock(sp.lock());
}

/// `srcu_funnel_gp_start`, at the root: record the need and start the grace period if idle.
fn srcu_funnel_gp_start(ssp: SrcuStruct, s: u64, do_norm: bool) {
    let _f = KFunc::enter("srcu_funnel_gp_start");
    let sp = ssp.sp;
    spin_lock(sp.lock());
    if sp.srcu_gp_seq_needed().load() < s {
        smp_store_release(sp.srcu_gp_seq_needed(), s);
    }
    if !do_norm && sp.srcu_gp_seq_needed_exp().load() < s {
        write_once(sp.srcu_gp_seq_needed_exp(), s);
    }
    if !rcu_seq_done(sp.srcu_gp_seq(), s) && rcu_seq_state(sp.srcu_gp_seq().load()) == SRCU_STATE_IDLE {
        srcu_gp_start(ssp);
        queue_work(ssp);
    }
    spin_unlock(sp.lock());
}

/// `srcu_gp_start`, under `ssp->lock`: the state goes to SCAN1.
fn srcu_gp_start(ssp: SrcuStruct) {
    srcu_mb(SrcuMb::GpStart);
    rcu_seq_start(ssp.sp.srcu_gp_seq());
}

/// `queue_delayed_work(rcu_gp_wq, &ssp->work, ...)`.
fn queue_work(ssp: SrcuStruct) {
    super::queue_work(ssp.sp.work_pending(), ssp.sp.work_kworker());
}

/// The kworker that runs `ssp->work`.
fn srcu_kworker(ssp: SrcuStruct) {
    super::kworker(ssp, ssp.sp.work_pending(), ssp.sp.work_exited(), || {
        process_srcu(ssp)
    });
}

/// `process_srcu`: advance the state machine, then requeue if a grace period is still needed.
/// Returns the counters' generation before a failed scan, for the delayed requeue.
fn process_srcu(ssp: SrcuStruct) -> Option<u64> {
    let _f = KFunc::enter("process_srcu");
    let retry = srcu_advance_state(ssp);
    srcu_reschedule(ssp);
    retry
}

/// `srcu_readers_active_idx_check`: the unlock sum, (A), then the lock sum; equal means no
/// reader is inside on `idx` (unlocks are read first, so a counted unlock has its lock counted).
fn srcu_readers_active_idx_check(ssp: SrcuStruct, idx: usize) -> bool {
    let unlocks = ssp.sum(UNLOCK_COUNT, idx);
    srcu_mb(SrcuMb::A); // A
    ssp.sum(LOCK_COUNT, idx) == unlocks
}

/// `try_check_zero`: one scan; on failure, the generation of the counters it read.
fn try_check_zero(ssp: SrcuStruct, idx: usize) -> Result<(), u64> {
    let seen = engine::generation(ssp.percpu);
    if srcu_readers_active_idx_check(ssp, idx) {
        Ok(())
    } else {
        Err(seen)
    }
}

/// What follows a scan that found no reader runs only because of the loads the scan made: a
/// control dependency from them to every later store (the flip, the end of the grace period).
/// It makes E and, with A, `rcu_seq_end`'s barrier redundant (`docs/srcu.md`, §The barriers).
fn scan_ctrl_dep(ssp: SrcuStruct) {
    if ssp.flavor() != super::SrcuFlavor::TreeWithoutCtrlDep {
        ctrl_dep();
    }
}

/// `srcu_flip`: (E), the index flip, (D).
fn srcu_flip(ssp: SrcuStruct) {
    srcu_mb(SrcuMb::E); // E
    let idx = ssp.sp.srcu_idx().load();
    write_once(ssp.sp.srcu_idx(), idx + 1);
    srcu_mb(SrcuMb::D); // D
}

/// `srcu_advance_state`: IDLE → SCAN1 → SCAN2 → `srcu_gp_end`, as far as the readers allow.
fn srcu_advance_state(ssp: SrcuStruct) -> Option<u64> {
    let _f = KFunc::enter("srcu_advance_state");
    let sp = ssp.sp;
    mutex_lock(sp.srcu_gp_mutex());
    let mut idx = rcu_seq_state(smp_load_acquire(sp.srcu_gp_seq()));
    if idx == SRCU_STATE_IDLE {
        spin_lock(sp.lock());
        if sp.srcu_gp_seq().load() >= sp.srcu_gp_seq_needed().load() {
            spin_unlock(sp.lock());
            mutex_unlock(sp.srcu_gp_mutex());
            return None;
        }
        idx = rcu_seq_state(read_once(sp.srcu_gp_seq()));
        if idx == SRCU_STATE_IDLE {
            srcu_gp_start(ssp);
        }
        spin_unlock(sp.lock());
        if idx != SRCU_STATE_IDLE {
            mutex_unlock(sp.srcu_gp_mutex());
            return None; // Someone else started the grace period.
        }
    }
    if rcu_seq_state(read_once(sp.srcu_gp_seq())) == SRCU_STATE_SCAN1 {
        let idx = (1 ^ (sp.srcu_idx().load() & 1)) as usize;
        if ssp.flavor() != super::SrcuFlavor::TreeWithoutScan1Check {
            if let Err(seen) = try_check_zero(ssp, idx) {
                mutex_unlock(sp.srcu_gp_mutex());
                return Some(seen); // Readers present: retry later.
            }
            scan_ctrl_dep(ssp);
        }
        srcu_flip(ssp);
        spin_lock(sp.lock());
        rcu_seq_set_state(sp.srcu_gp_seq(), SRCU_STATE_SCAN2);
        spin_unlock(sp.lock());
    }
    if rcu_seq_state(read_once(sp.srcu_gp_seq())) == SRCU_STATE_SCAN2 {
        // The index that was active before the flip.
        let idx = (1 ^ (sp.srcu_idx().load() & 1)) as usize;
        if let Err(seen) = try_check_zero(ssp, idx) {
            mutex_unlock(sp.srcu_gp_mutex());
            return Some(seen);
        }
        scan_ctrl_dep(ssp);
        srcu_gp_end(ssp); // Releases srcu_gp_mutex.
    }
    None
}

/// `srcu_gp_end`: end the grace period, run the callbacks it satisfied, start the next one if
/// someone asked for it meanwhile.
fn srcu_gp_end(ssp: SrcuStruct) {
    let _f = KFunc::enter("srcu_gp_end");
    let sp = ssp.sp;
    mutex_lock(sp.srcu_cb_mutex());
    spin_lock(sp.lock());
    rcu_seq_end(sp.srcu_gp_seq());
    let gpseq = read_once(sp.srcu_gp_seq());
    if sp.srcu_gp_seq_needed_exp().load() < gpseq {
        write_once(sp.srcu_gp_seq_needed_exp(), gpseq);
    }
    spin_unlock(sp.lock());
    mutex_unlock(sp.srcu_gp_mutex());
    // A new grace period can start at this point. But only one.
    srcu_schedule_cbs_sdp(ssp);
    // Callback initiation done: allow grace periods after the next.
    mutex_unlock(sp.srcu_cb_mutex());
    spin_lock(sp.lock());
    let gpseq = read_once(sp.srcu_gp_seq());
    if rcu_seq_state(gpseq) == SRCU_STATE_IDLE && gpseq < sp.srcu_gp_seq_needed().load() {
        srcu_gp_start(ssp);
        spin_unlock(sp.lock());
        queue_work(ssp);
    } else {
        spin_unlock(sp.lock());
    }
}

/// `srcu_schedule_cbs_sdp`: queue CPU 0's `srcu_data` work, which invokes the callbacks.
fn srcu_schedule_cbs_sdp(ssp: SrcuStruct) {
    super::queue_work(ssp.sp.sdp_work_pending(), ssp.sp.sdp_work_kworker());
}

/// The kworker that runs CPU 0's `srcu_data` work.
fn srcu_cb_kworker(ssp: SrcuStruct) {
    super::kworker(ssp, ssp.sp.sdp_work_pending(), ssp.sp.sdp_work_exited(), || {
        srcu_invoke_callbacks(ssp);
        None
    });
}

/// `srcu_invoke_callbacks` (the work): every callback whose grace period `rcu_seq_current` has
/// reached leaves the list under its lock and runs (`wakeme_after_rcu`: `complete`), unless
/// another invocation is on the job. Ready callbacks are taken one at a time (the kernel
/// extracts them all at once; nothing else takes them meanwhile: `srcu_cblist_invoking`). If
/// more became ready meanwhile, the work is queued again.
fn srcu_invoke_callbacks(ssp: SrcuStruct) {
    let _f = KFunc::enter("srcu_invoke_callbacks");
    let sp = ssp.sp;
    spin_lock(sp.srcu_cblist_lock());
    let gpseq = read_once(sp.srcu_gp_seq()); // rcu_seq_current
    if sp.srcu_cblist_invoking().load() || first_ready(ssp, gpseq).is_none() {
        spin_unlock(sp.srcu_cblist_lock());
        return; // Someone else on the job, or nothing to do.
    }
    sp.srcu_cblist_invoking().store(true);
    spin_unlock(sp.srcu_cblist_lock());
    loop {
        spin_lock(sp.srcu_cblist_lock());
        let ready = first_ready(ssp, gpseq);
        if let Some(rcu) = ready {
            if ssp.flavor() != super::SrcuFlavor::TreeWithoutCtrlDep {
                ctrl_dep(); // The callback is invoked because of the grace period read above.
            }
            list_del(rcu.head());
        }
        spin_unlock(sp.srcu_cblist_lock());
        match ready {
            Some(rcu) => complete(rcu.completion()),
            None => break,
        }
        if engine::failed() {
            return;
        }
    }
    spin_lock(sp.srcu_cblist_lock());
    sp.srcu_cblist_invoking().store(false);
    let more = first_ready(ssp, read_once(sp.srcu_gp_seq())).is_some();
    spin_unlock(sp.srcu_cblist_lock());
    if more {
        srcu_schedule_cbs_sdp(ssp);
    }
}

/// The first callback on the list whose grace period `gpseq` has reached, under its lock.
fn first_ready(ssp: SrcuStruct, gpseq: u64) -> Option<RcuSynchronize> {
    let head = ssp.sp.srcu_cblist();
    let mut pos: Ptr = head.next().load();
    while pos != head.addr() && !engine::failed() {
        let rcu = container_of!(pos, RcuSynchronize, head);
        if rcu.gp_seq().load() <= gpseq {
            return Some(rcu);
        }
        pos = rcu.head().next().load();
    }
    None
}

/// `srcu_barrier` (v6.0, `SRCU_SIZE_SMALL`): entrain a callback behind the last one queued on
/// the boot CPU's `srcu_data` (`srcu_barrier_one_cpu`) and wait for it. With nothing queued there
/// is nothing to entrain and nothing to wait for: no grace period, whatever readers are inside.
/// With one `srcu_data`, `srcu_barrier_cpu_cnt` reaches zero exactly when that callback runs, so
/// the caller waits on the callback's completion.
pub(super) fn barrier(ssp: SrcuStruct) {
    let sp = ssp.sp;
    mutex_lock(sp.srcu_barrier_mutex());
    let rcu: RcuSynchronize = stack_alloc();
    init_completion(rcu.completion());
    let idx = super::srcu_read_lock(ssp);
    let entrained = srcu_barrier_one_cpu(ssp, rcu);
    super::srcu_read_unlock(ssp, idx);
    if entrained {
        wait_for_completion(rcu.completion());
    }
    stack_release(rcu);
    mutex_unlock(sp.srcu_barrier_mutex());
}

/// `srcu_barrier_one_cpu`: `rcu_segcblist_entrain` puts the barrier's callback in the last
/// non-empty segment, so it runs with the last callback queued; an empty list entrains nothing.
fn srcu_barrier_one_cpu(ssp: SrcuStruct, rcu: RcuSynchronize) -> bool {
    let _f = KFunc::enter("srcu_barrier_one_cpu");
    let sp = ssp.sp;
    spin_lock(sp.srcu_cblist_lock());
    let head = sp.srcu_cblist();
    let last: Ptr = head.prev().load();
    let entrained = last != head.addr();
    if entrained {
        let tail = container_of!(last, RcuSynchronize, head);
        rcu.gp_seq().store(tail.gp_seq().load());
        list_add_tail(rcu.head(), head);
    }
    spin_unlock(sp.srcu_cblist_lock());
    entrained
}

/// `srcu_reschedule`: go idle if every request is met; otherwise make sure a grace period runs
/// and requeue the work.
fn srcu_reschedule(ssp: SrcuStruct) {
    let sp = ssp.sp;
    spin_lock(sp.lock());
    let seq = sp.srcu_gp_seq().load();
    let pushgp = if seq >= sp.srcu_gp_seq_needed().load() {
        false // All requests fulfilled: time to go idle.
    } else {
        if rcu_seq_state(seq) == SRCU_STATE_IDLE {
            srcu_gp_start(ssp); // Outstanding request and no grace period: start one.
        }
        true
    };
    spin_unlock(sp.lock());
    if pushgp {
        queue_work(ssp);
    }
}
