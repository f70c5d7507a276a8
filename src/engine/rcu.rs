//! RCU's read side and grace periods, and the grace-period oracle for SRCU.
//!
//! RCU is modeled by its guarantee, not by its implementation: `synchronize_rcu` returns once
//! every CPU that was inside a read-side critical section when it was invoked has left that
//! section. Without `CONFIG_PREEMPT` ([`Config::preempt`](crate::harness::Config) off) it also
//! waits for every other CPU that was running kernel code then to pass a quiescent state: to
//! block, sleep or return to user space (finish). Code that does not sleep is thereby an implicit
//! reader: the stretch between two quiescent states is a read-side section, with the same
//! happens-before and `lkmm` views as an explicit one. A CPU spinning on a lock runs; one that has
//! not started yet, or that sleeps, is quiescent. SRCU, whose implementations are what the threads argue about, is modeled word by word
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

/// Domains whose grace-period guarantee the engine keeps: RCU (domain 0) and SRCU domains that run
/// by their guarantee ([`SrcuFlavor::Guarantee`](crate::kernel::SrcuFlavor::Guarantee)),
/// numbered from 1 in order of first use.
pub(crate) const DOMAINS: usize = 4;

/// RCU's domain.
pub(crate) const RCU: usize = 0;

/// Sections of one domain a CPU can be inside at once.
const MAX_OPEN: usize = 4;

impl CpuRcu {
    fn inside(&self, d: usize) -> bool {
        self.open[d].iter().any(|&s| s != 0)
    }

    /// The newest open section of domain `d`, if any.
    fn newest_open(&self, d: usize) -> Option<u32> {
        self.open[d].iter().copied().filter(|&s| s != 0).max()
    }

    /// Whether a section numbered at most `bound` is still open.
    fn open_up_to(&self, d: usize, bound: u32) -> bool {
        self.open[d].iter().any(|&s| s != 0 && s <= bound)
    }
}

/// One CPU's RCU and SRCU read-side state.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct CpuRcu {
    /// Per domain, the sections the CPU is inside, by sequence number (0: a free entry). A grace
    /// period waits for the sections open at its start, not for later ones: SRCU sections
    /// overlap without nesting (`srcu_read_unlock` names its section), and RCU's nest, so the
    /// outermost, the oldest, is the one waited for.
    open: [[u32; MAX_OPEN]; DOMAINS],
    /// Per domain, the sequence number of the CPU's latest section (numbers start at 1).
    seq: [u32; DOMAINS],
    /// Per domain, the clock and (under `lkmm`) the view at the end of the CPU's latest outermost
    /// section: a grace period that begins later still ends after it (RCU's memory-barrier
    /// guarantee: every CPU passes a full barrier between a grace period's start and end).
    last_end: [VClock; DOMAINS],
    last_end_view: [u32; DOMAINS],
    /// SRCU sections the CPU is inside (for the oracle of the word-by-word implementations): the
    /// `srcu_struct` address, the index its lock returned, and the step at which the reader
    /// entered (its counter increment). Invariant: only the first `srcu_n` are live.
    srcu: [(u64, usize, u64); MAX_SRCU_NESTING],
    srcu_n: u8,
    /// The CPU passed a quiescent state and has run no kernel code since: it sleeps, has
    /// finished, or has not been scheduled in yet. A grace period does not wait for it.
    pub(super) quiescent: bool,
    /// Under `!CONFIG_PREEMPT`: the quiescent states the CPU passed, and the clock and view at
    /// the latest, the end of its latest implicit section (as `last_end` for explicit ones).
    qs: u32,
    last_qs: VClock,
    last_qs_view: u32,
}

/// RCU's global state.
///
/// The race detector gets no happens-before from a grace period's *start* to a reader that merely
/// began later in the interleaving: that would be ordering from step order, and would hide races
/// LKMM reports. Under `lkmm` the machine's views carry that half of the guarantee instead
/// (`lkmm::Machine::rcu_reader_enter`), which only restricts which stores a reader may read.
#[derive(Clone, Debug, Default)]
pub(crate) struct RcuState {
    /// Per grace-period caller (by CPU; only CPUs that have called one so far).
    callers: Vec<GpCaller>,
    /// The `srcu_struct` address of each SRCU domain (index 0 unused: RCU).
    srcu_domains: [u64; DOMAINS],
}

/// The grace periods one CPU is waiting for.
#[derive(Clone, Copy, Debug)]
struct GpCaller {
    /// Per domain, per CPU it waits for: the newest section that CPU had open when the grace
    /// period began; it waits until no section up to it is open. Cleared then.
    waits: [[Option<u32>; MAX_CPUS]; DOMAINS],
    /// Per domain, the clocks of the section ends it waited for: exactly those happen before
    /// the grace period's end, not later sections of the same CPUs.
    ends: [VClock; DOMAINS],
    /// Per domain, under `lkmm`: the join of the views of those section ends.
    end_views: [u32; DOMAINS],
    /// Under `!CONFIG_PREEMPT`, for an RCU grace period, per CPU: the number of quiescent states
    /// that CPU had passed when the grace period began, if it was running kernel code then; it
    /// waits until the CPU passes one more. Cleared then.
    qs_waits: [Option<u32>; MAX_CPUS],
}

impl Default for GpCaller {
    fn default() -> Self {
        GpCaller {
            waits: [[None; MAX_CPUS]; DOMAINS],
            ends: Default::default(),
            end_views: [0; DOMAINS],
            qs_waits: [None; MAX_CPUS],
        }
    }
}

impl RcuState {
    /// A new execution: no grace period, no SRCU domain.
    pub fn reset(&mut self) {
        self.callers.clear();
        self.srcu_domains = [0; DOMAINS];
    }
}

impl super::Model {
    /// The running CPU `cpu` passes a quiescent state (it blocks, sleeps or finishes). Under
    /// `!CONFIG_PREEMPT` this ends its implicit read-side section: its clock and view are ordered
    /// before the end of every grace period waiting for it, and those stop waiting. Returns the
    /// grace-period callers to wake, for [`unblock_tasks`]. Nothing under `CONFIG_PREEMPT`.
    pub(super) fn quiescent_state(&mut self, cpu: usize) -> u64 {
        self.cpus[cpu].rcu.quiescent = true;
        if self.config.preempt {
            return 0;
        }
        let c = &mut self.cpus[cpu];
        let vc = c.vc;
        c.vc.tick(cpu);
        let view = self.mem.lkmm().map_or(0, |w| w.exit_view(cpu));
        let r = &mut self.cpus[cpu].rcu;
        r.qs += 1;
        r.last_qs = vc;
        r.last_qs_view = view;
        let passed = r.qs;
        let mut done = false;
        for g in &mut self.rcu.callers {
            if g.qs_waits[cpu].is_some_and(|n| n < passed) {
                g.qs_waits[cpu] = None;
                g.ends[RCU].join(&vc);
                g.end_views[RCU] = g.end_views[RCU].max(view);
                done = true;
            }
        }
        if done {
            self.unblock_where(|b| b == Blocked::GracePeriod)
        } else {
            0
        }
    }

    /// `cpu` runs kernel code again after a context switch (or for the first time); nothing if
    /// it passed no quiescent state since it last ran. Under `!CONFIG_PREEMPT` an implicit
    /// read-side section begins: under `lkmm` it sees what preceded every grace period begun so
    /// far, as an `rcu_read_lock` does.
    pub(super) fn implicit_reader_enter(&mut self, cpu: usize) {
        let r = &mut self.cpus[cpu].rcu;
        if !std::mem::take(&mut r.quiescent) || self.config.preempt {
            return;
        }
        if let Some(w) = self.mem.lkmm() {
            w.rcu_reader_enter(cpu, RCU);
        }
    }
}

/// The domain of the `srcu_struct` at `ssp`, registered on first use; `None` when every domain
/// is taken (the caller reports it).
pub(crate) fn srcu_domain(ssp: Ptr) -> Option<usize> {
    with(|m| {
        let d = &mut m.rcu.srcu_domains;
        if let Some(i) = (1..DOMAINS).find(|&i| d[i] == ssp.0) {
            return Some(i);
        }
        let i = (1..DOMAINS).find(|&i| d[i] == 0)?;
        d[i] = ssp.0;
        Some(i)
    })
}

/// `rcu_read_lock()`.
pub(crate) fn rcu_read_lock(caller: &'static Location<'static>) {
    read_lock(RCU, "rcu_read_lock", caller);
}

/// `rcu_read_unlock()`.
pub(crate) fn rcu_read_unlock(caller: &'static Location<'static>) {
    read_unlock(RCU, None, "rcu_read_unlock", caller)
}

/// `synchronize_rcu()`: wait until every CPU that is inside a read-side section now has left it,
/// and, under `!CONFIG_PREEMPT`, until every other CPU running kernel code now has passed a
/// quiescent state.
pub(crate) fn synchronize_rcu(caller: &'static Location<'static>) {
    synchronize(RCU, "synchronize_rcu", caller)
}

/// Enter a read-side section of domain `d`; returns its sequence number (SRCU's index).
pub(crate) fn read_lock(d: usize, op: &'static str, caller: &'static Location<'static>) -> u32 {
    schedule_point();
    let cpu = me();
    let seq = with(|m| {
        m.step += 1;
        m.record_event(cpu, op, 0, None, None, caller);
        let r = &m.cpus[cpu].rcu;
        // A nested RCU section is part of the outermost one; an SRCU section stands alone.
        if d != RCU || !r.inside(d) {
            if let Some(w) = m.mem.lkmm() {
                w.rcu_reader_enter(cpu, d);
            }
        }
        let r = &mut m.cpus[cpu].rcu;
        let Some(free) = r.open[d].iter().position(|&s| s == 0) else {
            let msg = format!(
                "{} is inside more than {MAX_OPEN} read-side sections of one domain, more than \
                 the engine tracks",
                m.cpu_label(cpu)
            );
            m.record_failure(FailureKind::Bug, cpu, msg);
            return 0;
        };
        r.seq[d] += 1;
        r.open[d][free] = r.seq[d];
        r.seq[d]
    });
    stop_if_failed();
    seq
}

/// Leave a read-side section of domain `d`: the one numbered `seq`, or the newest (RCU).
pub(crate) fn read_unlock(d: usize, seq: Option<u32>, op: &'static str, caller: &'static Location<'static>) {
    schedule_point();
    let cpu = me();
    let woken = with(|m| {
        m.step += 1;
        m.record_event(cpu, op, 0, None, None, caller);
        let c = &mut m.cpus[cpu];
        let ending = seq.or_else(|| c.rcu.newest_open(d));
        let Some(slot) = ending.and_then(|e| c.rcu.open[d].iter().position(|&s| s != 0 && s == e)) else {
            let msg = format!(
                "{op} outside a read-side critical section on {}",
                m.cpu_label(cpu)
            );
            m.record_failure(FailureKind::Bug, cpu, msg);
            return 0;
        };
        let ended = c.rcu.open[d][slot];
        c.rcu.open[d][slot] = 0;
        if d == RCU && c.rcu.inside(d) {
            // An inner RCU section: the outermost still holds back the grace period.
            return 0;
        }
        let vc = c.vc;
        c.vc.tick(cpu);
        let view = m.mem.lkmm().map_or(0, |w| w.exit_view(cpu));
        let r = &mut m.cpus[cpu].rcu;
        r.last_end[d] = vc;
        r.last_end_view[d] = view;
        let r = &m.cpus[cpu].rcu;
        for g in &mut m.rcu.callers {
            if let Some(bound) = g.waits[d][cpu] {
                if ended <= bound {
                    g.ends[d].join(&vc);
                    g.end_views[d] = g.end_views[d].max(view);
                }
                if !r.open_up_to(d, bound) {
                    g.waits[d][cpu] = None;
                }
            }
        }
        m.unblock_where(|b| b == Blocked::GracePeriod)
    });
    unblock_tasks(woken);
    stop_if_failed();
}

/// Wait for a grace period of domain `d`: until every CPU that is inside one of its read-side
/// sections now has left it.
pub(crate) fn synchronize(d: usize, op: &'static str, caller: &'static Location<'static>) {
    schedule_point();
    let cpu = me();
    with(|m| {
        m.step += 1;
        m.record_event(cpu, op, 0, None, None, caller);
        if m.rcu.callers.len() <= cpu {
            m.rcu.callers.resize(cpu + 1, GpCaller::default());
        }
        // The CPUs inside a section now, and the newest section of each.
        for i in 0..MAX_CPUS {
            m.rcu.callers[cpu].waits[d][i] = m.cpus.get(i).and_then(|c| c.rcu.newest_open(d));
        }
        // Sections that already ended are ordered before the grace period's end too.
        let mut ends = VClock::default();
        let mut end_views = 0;
        for (i, c) in m.cpus.iter().enumerate() {
            if i != cpu {
                ends.join(&c.rcu.last_end[d]);
                end_views = end_views.max(c.rcu.last_end_view[d]);
            }
        }
        if d == RCU && !m.config.preempt {
            // Every other CPU running kernel code now is inside an implicit section: wait for its
            // next quiescent state. Implicit sections that already ended are ordered before the
            // end too. The caller itself is not waited for.
            for i in 0..MAX_CPUS {
                let c = m.cpus.get(i).filter(|c| i != cpu && !c.rcu.quiescent);
                m.rcu.callers[cpu].qs_waits[i] = c.map(|c| c.rcu.qs);
            }
            for (i, c) in m.cpus.iter().enumerate() {
                if i != cpu {
                    ends.join(&c.rcu.last_qs);
                    end_views = end_views.max(c.rcu.last_qs_view);
                }
            }
        }
        m.rcu.callers[cpu].ends[d] = ends;
        m.rcu.callers[cpu].end_views[d] = end_views;
        // A grace period is a full fence on each side of its wait.
        m.fence_effects(cpu, super::memory::Fence::Mb);
        if let Some(w) = m.mem.lkmm() {
            w.rcu_gp_start(cpu, d);
        }
    });
    loop {
        // Checking and blocking happen with no scheduling point between them, so an unlock
        // cannot slip in unseen.
        let blocked = with(|m| {
            let g = &m.rcu.callers[cpu];
            let implicit_done = d != RCU || g.qs_waits.iter().all(Option::is_none);
            if implicit_done && g.waits[d].iter().all(Option::is_none) {
                let (ends, view) = (g.ends[d], g.end_views[d]);
                m.cpus[cpu].vc.join(&ends);
                if let Some(w) = m.mem.lkmm() {
                    w.rcu_gp_end(cpu, view);
                }
                m.fence_effects(cpu, super::memory::Fence::Mb);
                return None;
            }
            // Waiting sleeps: a quiescent state for the grace periods of other callers.
            let woken = m.quiescent_state(cpu);
            m.cpus[cpu].blocked = Blocked::GracePeriod;
            Some((m.all_blocked(), woken))
        });
        let Some((deadlock, woken)) = blocked else {
            break;
        };
        unblock_tasks(woken);
        if deadlock {
            report_deadlock();
            return;
        }
        runtime::block_current();
        if super::failed() {
            return;
        }
        with(|m| m.implicit_reader_enter(cpu));
    }
}

/// The number of the last step taken: a `synchronize_srcu` stamps its invocation with it.
pub(crate) fn step() -> u64 {
    with(|m| m.step)
}

/// Whether the running execution is under the `lkmm` memory model.
pub(crate) fn weak_memory() -> bool {
    with(|m| m.mem.is_weak())
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
