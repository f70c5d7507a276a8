//! SRCU by its guarantee, not an implementation: the engine keeps the grace-period promise per
//! domain, as it does for RCU. `synchronize_srcu(ssp)` waits for every reader of `ssp` that was
//! inside a section when it was invoked, and is a full barrier on each side of the wait; the read
//! side orders nothing by itself (no `smp_mb()`: LKMM's `srcu_read_lock` and `srcu_read_unlock`
//! are not fences, unlike the implementations', which are stronger than the specification).
//!
//! It is what `kgrace litmus` runs SRCU tests on, so that they are judged against LKMM's
//! specification of SRCU and not against one implementation's extra barriers.

use std::panic::Location;

use super::SrcuStruct;
use crate::engine::{self, rcu};
use crate::FailureKind;

fn domain(ssp: SrcuStruct, caller: &'static Location<'static>) -> Option<usize> {
    let d = rcu::srcu_domain(ssp.sp.0);
    if d.is_none() {
        engine::oracle_failure(
            FailureKind::Bug,
            "more srcu_struct domains by guarantee than the engine tracks (3)",
            caller,
        );
    }
    d
}

/// Enter a section: the index names the section (there is no index flip), so that the
/// unlock ends that one: SRCU sections may overlap without nesting.
#[track_caller]
pub(super) fn read_lock(ssp: SrcuStruct) -> usize {
    let caller = Location::caller();
    match domain(ssp, caller) {
        Some(d) => rcu::read_lock(d, "srcu_read_lock", caller) as usize,
        None => 0,
    }
}

#[track_caller]
pub(super) fn read_unlock(ssp: SrcuStruct, idx: usize) {
    let caller = Location::caller();
    if let Some(d) = domain(ssp, caller) {
        rcu::read_unlock(d, Some(idx as u32), "srcu_read_unlock", caller);
    }
}

#[track_caller]
pub(super) fn synchronize(ssp: SrcuStruct) {
    let caller = Location::caller();
    if let Some(d) = domain(ssp, caller) {
        rcu::synchronize(d, "synchronize_srcu", caller);
    }
}
