//! Classic SRCU as of v3.4 (`kernel/srcu.c`, Lai Jiangshan's rewrite; `docs/srcu.md`, §Classic
//! SRCU v3.4). Readers count themselves in per-CPU `c[idx]` and `seq[idx]`; `synchronize_srcu`
//! runs under the SRCU-internal `mutex` and waits twice: first for stragglers on the inactive
//! index, then, after the flip, for the readers of the index that was active. The barrier
//! letters A to D are the kernel's (`docs/srcu.md`, §The barriers A to E).
//!
//! The flip is a `WRITE_ONCE`, as from v3.5 on; v3.4's plain `completed++` against the readers'
//! `ACCESS_ONCE` would be a data-race report that predates KCSAN, and is not what is asked here.

use super::{entered, exited, wait_until, SrcuStruct};
use super::{srcu_mb, SrcuFlavor, SrcuMb};
use crate::kernel::{mutex_init, mutex_lock, mutex_unlock, read_once, write_once, KFunc};

const C: usize = 0;
const SEQ: usize = 1;

pub(super) fn init(ssp: SrcuStruct) {
    mutex_init(ssp.sp.mutex());
}

/// `__srcu_read_lock`: `idx = ACCESS_ONCE(completed) & 1`, `c[idx] += 1`, `smp_mb()` (B),
/// `seq[idx] += 1`.
#[track_caller]
pub(super) fn read_lock(ssp: SrcuStruct) -> usize {
    let idx = (read_once(ssp.sp.completed()) & 1) as usize;
    ssp.this_cpu_add(C, idx, 1);
    entered(ssp, idx);
    srcu_mb(SrcuMb::B); // B
    ssp.this_cpu_add(SEQ, idx, 1);
    idx
}

/// `__srcu_read_unlock`: `smp_mb()` (C), `c[idx] -= 1` on the CPU the reader now runs on,
/// which need not be the CPU of its lock.
#[track_caller]
pub(super) fn read_unlock(ssp: SrcuStruct, idx: usize) {
    let cpu = ssp.resumed_cpu();
    srcu_mb(SrcuMb::C); // C
    ssp.cpu_add(cpu, C, idx, -1);
    exited(ssp, idx);
}

/// `srcu_readers_active_idx_check`: the `seq` sum, (A), no reader counted in `c`, (D), and the
/// `seq` sum unchanged. The `c` sum reads one CPU after another, so a reader that locked on a
/// CPU already read and unlocked on one not yet read adds -1 to it: with another reader inside,
/// a false zero. That reader's lock also bumped `seq`, which the second sum sees.
fn readers_active_idx_check(ssp: SrcuStruct, idx: usize) -> bool {
    let seq = ssp.sum(SEQ, idx);
    srcu_mb(SrcuMb::A); // A
    if ssp.sum(C, idx) != 0 {
        return false;
    }
    if ssp.flavor() == SrcuFlavor::ClassicWithoutSeqCheck {
        return true;
    }
    srcu_mb(SrcuMb::D); // D
    ssp.sum(SEQ, idx) == seq
}

/// `wait_idx(sp, idx)`: retry the check until it holds.
fn wait_idx(ssp: SrcuStruct, idx: usize) {
    let _f = KFunc::enter("wait_idx");
    wait_until(ssp, || readers_active_idx_check(ssp, idx));
}

/// `__synchronize_srcu`.
#[track_caller]
pub(super) fn synchronize(ssp: SrcuStruct) {
    mutex_lock(ssp.sp.mutex());
    let completed = ssp.sp.completed().load();
    let busy_idx = (completed & 1) as usize;
    if ssp.flavor() != SrcuFlavor::ClassicWithoutStragglerWait {
        wait_idx(ssp, 1 - busy_idx);
    }
    // srcu_flip
    write_once(ssp.sp.completed(), completed + 1);
    wait_idx(ssp, busy_idx);
    mutex_unlock(ssp.sp.mutex());
}
