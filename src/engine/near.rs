//! Near misses: orders of two CPUs' accesses that, reversed, may be the bug.
//!
//! Two kinds, each generic over harnesses:
//! * a free that overtook nothing: CPU A accessed an object, then CPU B freed it. Had A been
//!   stopped just before its access until the free, the access would have been a
//!   use-after-free. Where a grace period, a lock or a reference orders the free after A's
//!   access, stopping A only delays the free (B waits for A) and nothing is lost but one
//!   execution.
//! * a stale load: CPU A loaded a word, then CPU B overwrote it. Had A been stopped just after
//!   its load, it would have gone on with a value that no longer holds: the window of a
//!   check-then-act bug (a flag tested before a lock or a read-side section begins).
//!
//! The guided strategy ([`crate::sched::Guided`]) replays an execution that made a near miss up
//! to that access and stalls its CPU there (it runs again only when no other CPU can, or when
//! the others only spin waiting for it): the reversal of one conflicting pair, the move a
//! bug of depth two needs once an execution has brought the two accesses close. It is the
//! reads-from reversal of RFF (Wolff et al., ASPLOS 2024) carried over to frees and to the
//! check-then-act order, and close to the "near miss" feedback of directed race fuzzers.
//!
//! Tracking is on only under the guided strategy ([`super::cover::feedback`]). It lives in the
//! model (one access of the model per memory access already), and its entries carry the number
//! of their execution, so that nothing is cleared between executions: an exploration runs some
//! 10^4 executions a second.

use std::cell::Cell;

use super::cover::mix;

/// A near miss of the execution that just ended.
#[derive(Clone, Copy, Debug)]
pub(crate) struct NearMiss {
    /// The CPU whose access came first (the one to stall).
    pub victim: u8,
    /// The index of the guided strategy's decision that ran that access.
    pub at: u32,
    /// Decisions from the access to the free or the overwrite: a close miss is more likely to
    /// reverse into a bug (a distant one usually has a grace period or a lock in between).
    pub gap: u32,
    /// The two sites and the victim, hashed: which near miss this is, across executions.
    pub key: u64,
    /// Stall the victim just after its access (a stale load), not just before it (an access a
    /// free may overtake).
    pub after: bool,
}

/// CPUs tracked: the harnesses have at most six; a CPU beyond makes no near miss.
const TRACKED: usize = 8;

/// One CPU's latest access to an object.
#[derive(Clone, Copy, Debug, Default)]
struct Stamp {
    /// Valid only when this is [`Tracker::execution`].
    execution: u32,
    /// The decision that ran the access.
    at: u32,
    site: u32,
}

/// The loads of one word that no other CPU has overwritten since.
#[derive(Clone, Copy, Debug, Default)]
struct Loads {
    /// `pending` is valid only when this is [`Tracker::execution`].
    execution: u32,
    /// The CPUs with such a load, as a mask: a store to a word no other CPU has loaded (most
    /// stores) looks at nothing else.
    pending: u8,
}

/// What the guided strategy's near misses need, kept across executions.
#[derive(Debug, Default)]
pub(crate) struct Tracker {
    /// Invariant: never 0 once tracking began, so that a default entry is never valid.
    execution: u32,
    /// `objects[obj][cpu]`: `cpu`'s latest access to object `obj`.
    objects: Vec<[Stamp; TRACKED]>,
    /// `words[slot]`: the pending loads of the word at `slot`.
    words: Vec<Loads>,
    /// `loads[slot][cpu]`: the decision and the site of `cpu`'s latest load of the word at
    /// `slot`; valid only for the CPUs in `words[slot].pending`. Apart from `words` so that a
    /// store, which reads this only when it overwrote another CPU's load, touches 8 bytes of
    /// the word's, not 72 (the tables outgrew the cache where a harness has many words).
    loads: Vec<[(u32, u32); TRACKED]>,
    misses: Vec<NearMiss>,
}

thread_local! {
    /// The guided strategy's latest CPU decision ([`note_decision`]).
    static DECISION: Cell<u32> = const { Cell::new(0) };
}

/// The guided strategy has just made CPU decision number `index` of its execution: the
/// accesses until the next one are its CPU's.
#[inline]
pub(crate) fn note_decision(index: u32) {
    DECISION.with(|d| d.set(index));
}

/// Forget the near misses of an execution cut short (a new exploration begins).
pub(crate) fn reset() {
    take(&mut Vec::new());
}

/// The near misses of the execution that just ended, into `out`; what the next one does is
/// tracked afresh.
pub(crate) fn take(out: &mut Vec<NearMiss>) {
    super::with(|m| {
        let t = &mut m.near;
        out.append(&mut t.misses);
        t.execution = t.execution.wrapping_add(1);
        if t.execution == 0 {
            // 2^32 executions on this thread: an entry that old would look current again.
            t.objects.clear();
            t.words.clear();
            t.loads.clear();
            t.execution = 1;
        }
    });
    DECISION.with(|d| d.set(0));
}

impl Tracker {
    /// `cpu` accessed the word at `slot` of object `obj` from `site`: a load (`load`), a store
    /// (`store`; an RMW that wrote counts as a store only: it read the newest value, so it is
    /// never stale), or neither (an RMW that did not write).
    #[inline]
    pub(crate) fn touch(&mut self, obj: usize, slot: usize, cpu: usize, site: u32, load: bool, store: bool) {
        if cpu >= TRACKED {
            return;
        }
        let at = DECISION.with(Cell::get);
        let execution = self.execution;
        if obj >= self.objects.len() || slot >= self.words.len() {
            self.grow(obj, slot);
        }
        self.objects[obj][cpu] = Stamp { execution, at, site };
        let w = &mut self.words[slot];
        if w.execution != execution {
            w.execution = execution;
            w.pending = 0;
        }
        if store {
            let others = w.pending & !(1 << cpu);
            if others != 0 {
                w.pending &= 1 << cpu;
                self.overwritten(slot, others, at, site);
            }
        } else if load {
            w.pending |= 1 << cpu;
            self.loads[slot][cpu] = (at, site);
        }
    }

    /// Room for object `obj` and the word at `slot`: out of line, so that [`Tracker::touch`]
    /// inlines into every access (it grows only in an exploration's first executions).
    #[cold]
    #[inline(never)]
    fn grow(&mut self, obj: usize, slot: usize) {
        if obj >= self.objects.len() {
            self.objects.resize(obj + 1, Default::default());
        }
        if slot >= self.words.len() {
            self.words.resize(slot + 1, Loads::default());
            self.loads.resize(slot + 1, Default::default());
        }
    }

    /// A store at decision `at` from `site` overwrote the word at `slot`, which the CPUs in
    /// `others` had loaded: each such load is a near miss. Out of line, as [`Tracker::grow`]:
    /// most stores are to words no other CPU has loaded.
    #[inline(never)]
    fn overwritten(&mut self, slot: usize, others: u8, at: u32, site: u32) {
        for (victim, &(load_at, load_site)) in self.loads[slot].iter().enumerate() {
            if others & (1 << victim) != 0 {
                self.misses.push(NearMiss {
                    victim: victim as u8,
                    at: load_at,
                    gap: at.saturating_sub(load_at),
                    key: mix(u64::from(load_site) << 32 | u64::from(site)) ^ 0x5354_4c45 ^ victim as u64,
                    after: true,
                });
            }
        }
    }

    /// `cpu` freed object `obj` at `site`: every other CPU's latest access to it is a near miss.
    pub(crate) fn freed(&mut self, obj: usize, cpu: usize, site: u32) {
        let now = DECISION.with(Cell::get);
        let Some(accesses) = self.objects.get(obj) else {
            return;
        };
        for (victim, a) in accesses.iter().enumerate() {
            if victim != cpu && a.execution == self.execution {
                self.misses.push(NearMiss {
                    victim: victim as u8,
                    at: a.at,
                    gap: now.saturating_sub(a.at),
                    key: mix(u64::from(a.site) << 32 | u64::from(site)) ^ victim as u64,
                    after: false,
                });
            }
        }
    }
}
