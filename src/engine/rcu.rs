//! RCU's read side and grace periods, and the grace-period oracle for SRCU.
//!
//! RCU is modeled by its guarantee, not by its implementation: `synchronize_rcu` returns once
//! every CPU that was inside a read-side critical section when it was invoked has left that
//! section. SRCU, whose implementations are what the threads argue about, is modeled word by word
//! in `kernel::srcu`; this module only keeps the oracle's bookkeeping for it (`docs/concurrent_srcu.md`,
//! oracle O2.1).

use std::fmt::Write as _;
use std::panic::Location;

use super::runtime::{self, switch as schedule_point};
use super::task::{report_deadlock, unblock_tasks};
use super::vclock::{VClock, MAX_CPUS};
use super::{me, stop_if_failed, with, Blocked};
use crate::failure::FailureKind;
use crate::kernel::Ptr;

/// SRCU read-side sections one CPU can be inside at once (nested or in different domains).
const MAX_SRCU_NESTING: usize = 4;

/// One CPU's RCU and SRCU read-side state.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct CpuRcu {
    /// `rcu_read_lock` nesting depth.
    nesting: u32,
    /// Outermost RCU read-side sections ended so far. A `synchronize_rcu` that saw this CPU
    /// inside a section waits until this grows past what it saw.
    ended: u32,
    /// The clock and (under `lkmm`) the view at the end of the CPU's latest outermost section: a
    /// grace period that begins later still ends after it (RCU's memory-barrier guarantee: every
    /// CPU passes a full barrier between a grace period's start and end).
    last_end: VClock,
    last_end_view: u32,
    /// SRCU sections the CPU is inside: the `srcu_struct` address, the index its lock returned,
    /// and the step at which the reader entered (its counter increment). Invariant: only the
    /// first `srcu_n` are live.
    srcu: [(u64, usize, u64); MAX_SRCU_NESTING],
    srcu_n: u8,
}

/// RCU's global state.
///
/// The race detector gets no happens-before from a grace period's *start* to a reader that merely
/// began later in the interleaving: that would be ordering from step order, and would hide races
/// LKMM reports. Under `lkmm` the machine's views carry that half of the guarantee instead
/// (`lkmm::Machine::rcu_reader_enter`), which only restricts which stores a reader may read.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct RcuState {
    /// Per `synchronize_rcu` caller (by CPU), per CPU it waits for: the count of ended sections
    /// that CPU had when the grace period began. Cleared when that section ends.
    waits: [[Option<u32>; MAX_CPUS]; MAX_CPUS],
    /// Per caller, the clocks of the section ends it waited for: exactly those happen before
    /// the grace period's end, not later sections of the same CPUs.
    ends: [VClock; MAX_CPUS],
    /// Per caller, under `lkmm`: the join of the views of those section ends.
    end_views: [u32; MAX_CPUS],
}

/// `rcu_read_lock()`.
pub(crate) fn rcu_read_lock(caller: &'static Location<'static>) {
    schedule_point();
    let cpu = me();
    with(|m| {
        m.step += 1;
        m.record_event(cpu, "rcu_read_lock", 0, None, None, caller);
        if m.cpus[cpu].rcu.nesting == 0 {
            if let Some(w) = m.mem.lkmm() {
                w.rcu_reader_enter(cpu);
            }
        }
        m.cpus[cpu].rcu.nesting += 1;
    });
    stop_if_failed();
}

/// `rcu_read_unlock()`.
pub(crate) fn rcu_read_unlock(caller: &'static Location<'static>) {
    schedule_point();
    let cpu = me();
    let woken = with(|m| {
        m.step += 1;
        m.record_event(cpu, "rcu_read_unlock", 0, None, None, caller);
        let c = &mut m.cpus[cpu];
        if c.rcu.nesting == 0 {
            let msg = format!("rcu_read_unlock without rcu_read_lock on {}", m.cpu_label(cpu));
            m.record_failure(FailureKind::Bug, cpu, msg);
            return 0;
        }
        c.rcu.nesting -= 1;
        if c.rcu.nesting > 0 {
            return 0;
        }
        c.rcu.ended += 1;
        let (ended, vc) = (c.rcu.ended, c.vc);
        c.vc.0[cpu] += 1;
        let view = m.mem.lkmm().map_or(0, |w| w.exit_view(cpu));
        m.cpus[cpu].rcu.last_end = vc;
        m.cpus[cpu].rcu.last_end_view = view;
        for w in 0..MAX_CPUS {
            if m.rcu.waits[w][cpu].is_some_and(|e| ended > e) {
                m.rcu.waits[w][cpu] = None;
                m.rcu.ends[w].join(&vc);
                m.rcu.end_views[w] = m.rcu.end_views[w].max(view);
            }
        }
        m.unblock_where(|b| b == Blocked::GracePeriod)
    });
    unblock_tasks(woken);
    stop_if_failed();
}

/// `synchronize_rcu()`: wait until every CPU that is inside a read-side section now has left it.
pub(crate) fn synchronize_rcu(caller: &'static Location<'static>) {
    schedule_point();
    let cpu = me();
    with(|m| {
        m.step += 1;
        m.record_event(cpu, "synchronize_rcu", 0, None, None, caller);
        // The CPUs inside a section now, and how many sections each has ended so far.
        for i in 0..MAX_CPUS {
            m.rcu.waits[cpu][i] = m.cpus.get(i).filter(|c| c.rcu.nesting > 0).map(|c| c.rcu.ended);
        }
        // Sections that already ended are ordered before the grace period's end too.
        let mut ends = VClock::default();
        let mut end_views = 0;
        for (i, c) in m.cpus.iter().enumerate() {
            if i != cpu {
                ends.join(&c.rcu.last_end);
                end_views = end_views.max(c.rcu.last_end_view);
            }
        }
        m.rcu.ends[cpu] = ends;
        m.rcu.end_views[cpu] = end_views;
        // A grace period is a full fence on each side of its wait.
        m.fence_effects(cpu, super::memory::Fence::Mb);
        if let Some(w) = m.mem.lkmm() {
            w.rcu_gp_start(cpu);
        }
    });
    loop {
        // Checking and blocking happen with no scheduling point between them, so an unlock
        // cannot slip in unseen.
        let blocked = with(|m| {
            if m.rcu.waits[cpu].iter().all(Option::is_none) {
                let ends = m.rcu.ends[cpu];
                m.cpus[cpu].vc.join(&ends);
                let view = m.rcu.end_views[cpu];
                if let Some(w) = m.mem.lkmm() {
                    w.rcu_gp_end(cpu, view);
                }
                m.fence_effects(cpu, super::memory::Fence::Mb);
                return None;
            }
            m.cpus[cpu].blocked = Blocked::GracePeriod;
            Some(m.all_blocked())
        });
        match blocked {
            None => break,
            Some(true) => {
                report_deadlock();
                return;
            }
            Some(false) => {
                runtime::block_current();
                if super::failed() {
                    return;
                }
            }
        }
    }
}

/// The number of the last step taken: a `synchronize_srcu` stamps its invocation with it.
pub(crate) fn step() -> u64 {
    with(|m| m.step)
}

/// The running CPU has entered an SRCU read-side section of the `srcu_struct` at `ssp`: called
/// right after its counter increment, the moment O2.1 counts a reader as entered.
pub(crate) fn srcu_enter(ssp: Ptr, idx: usize) {
    let cpu = me();
    with(|m| {
        let step = m.step;
        let r = &mut m.cpus[cpu].rcu;
        if (r.srcu_n as usize) < MAX_SRCU_NESTING {
            r.srcu[r.srcu_n as usize] = (ssp.0, idx, step);
            r.srcu_n += 1;
        } else {
            let msg = format!(
                "{} is inside more than {MAX_SRCU_NESTING} SRCU read-side sections at once, more \
                 than the grace-period oracle tracks",
                m.cpu_label(cpu)
            );
            m.record_failure(FailureKind::Bug, cpu, msg);
        }
    });
}

/// The running CPU has left an SRCU section of `ssp` entered with `idx` (its counter update is
/// done). Sections need not nest: the latest one with this `idx` ends.
pub(crate) fn srcu_exit(ssp: Ptr, idx: usize) {
    let cpu = me();
    with(|m| {
        let r = &mut m.cpus[cpu].rcu;
        let n = r.srcu_n as usize;
        if let Some(i) = r.srcu[..n].iter().rposition(|e| e.0 == ssp.0 && e.1 == idx) {
            r.srcu.copy_within(i + 1..n, i);
            r.srcu_n -= 1;
        }
    });
}

/// O2.1 at the return of a `synchronize_srcu(ssp)` invoked at step `invoked`: no reader that
/// entered by then may still be inside. Checked only when the harness turned the oracle on.
pub(crate) fn srcu_gp_check(ssp: Ptr, invoked: u64, what: &'static str) {
    let cpu = me();
    with(|m| {
        if !m.config.gp_oracle || m.failure.is_some() {
            return;
        }
        for (i, c) in m.cpus.iter().enumerate() {
            let n = c.rcu.srcu_n as usize;
            if let Some(&(_, _, entered)) = c.rcu.srcu[..n].iter().find(|e| e.0 == ssp.0 && e.2 <= invoked) {
                let mut msg = String::new();
                let _ = write!(
                    msg,
                    "grace-period violation: {what}({}) by {} was invoked at step {invoked} and \
                     returned at step {}\nwhile {} is still inside the read-side critical section it \
                     entered at step {entered}",
                    m.heap.describe(ssp.0),
                    m.cpu_label(cpu),
                    m.step,
                    m.cpu_label(i),
                );
                m.record_failure(FailureKind::GracePeriodViolation, cpu, msg);
                return;
            }
        }
    });
    stop_if_failed();
}
