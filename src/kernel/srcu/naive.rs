//! The naive SRCU of `docs/srcu.md` (§The naive SRCU): one flip, one wait, no serialization of
//! callers.
//! It is what the KVM thread worried the real SRCU might be. Two failures follow from it:
//!
//! * B1: two concurrent callers. One flips to the index no reader uses and returns at once,
//!   while the reader it should wait for is counted on the other index.
//! * B1′: one caller, a straggler. A reader loads the index, is preempted before its increment,
//!   and then counts itself on an index that the next caller will not scan.

use super::{entered, exited, wait_until, SrcuStruct};
use crate::kernel::{read_once, smp_mb, write_once};

/// reader_lock: `i = idx & 1` (the preemption point of B1′ is right after it), `cnt[i] += 1`,
/// `smp_mb()`.
#[track_caller]
pub(super) fn read_lock(ssp: SrcuStruct) -> usize {
    let i = (read_once(ssp.sp.idx()) & 1) as usize;
    ssp.this_cpu_add(0, i, 1);
    entered(ssp, i);
    smp_mb();
    i
}

/// reader_unlock: `smp_mb()`, `cnt[i] -= 1` on the CPU the reader now runs on.
#[track_caller]
pub(super) fn read_unlock(ssp: SrcuStruct, i: usize) {
    let cpu = ssp.resumed_cpu();
    smp_mb();
    ssp.cpu_add(cpu, 0, i, -1);
    exited(ssp, i);
}

/// sync: `i = idx & 1`, `idx = idx + 1`, wait until `cnt[i]` sums to zero. The full barriers
/// around it are not where it breaks: they are there so that the model fails for the algorithm,
/// not for a missing fence.
#[track_caller]
pub(super) fn synchronize(ssp: SrcuStruct) {
    smp_mb();
    let idx = read_once(ssp.sp.idx());
    let i = (idx & 1) as usize;
    write_once(ssp.sp.idx(), idx + 1);
    wait_until(ssp, || ssp.sum(0, i) == 0);
    smp_mb();
}
