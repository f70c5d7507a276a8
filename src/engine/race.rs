//! The data-race detector: KCSAN's rule (conflicting accesses from different CPUs, at least one
//! plain, unordered by happens-before) over vector clocks.
//!
//! Happens-before comes only from what an access actually read (the release clock its store
//! carries, [`super::memory::Msg::sync`]) and from fences, locks, spawn, join and wake-ups, never
//! from the order in which the interleaving ran two steps, nor from which store is the newest:
//! under the `lkmm` memory model a load may read an older store, and orders only with that one.
//!
//! Per word, the shadow keeps each CPU's last write, last plain write, last read and last plain
//! read (as that CPU's clock value). A CPU's accesses are ordered among themselves, so its last
//! one is ordered before another CPU exactly when all its earlier ones are: a plain read is
//! checked against every CPU's last write, not only the word's last write.

use super::vclock::{VClock, MAX_CPUS};
use super::{memory::Kind, Model, SLOT_BITS};
use crate::failure::FailureKind;

/// One CPU's last accesses of a word: its clock value at its last write, last plain write, last
/// read and last plain read (0: none).
#[derive(Clone, Copy, Debug, Default)]
struct Last {
    w: u32,
    w_plain: u32,
    r_any: u32,
    r_plain: u32,
}

/// A word's shadow: the first [`SHADOW_CPUS`] CPUs inline, the others (only in executions with
/// more CPUs) in [`Race::wide`], allocated at their first access.
#[derive(Clone, Copy, Debug, Default)]
struct Shadow {
    lo: [Last; SHADOW_CPUS],
    /// 1 + the index of the word's other CPUs in [`Race::wide`]; 0 if none has accessed it.
    wide: u32,
}

/// CPUs whose last accesses a shadow holds inline.
const SHADOW_CPUS: usize = 8;

type WideShadow = [Last; MAX_CPUS - SHADOW_CPUS];

impl Last {
    /// Whether CPU `c`'s last accesses conflict with one by a CPU whose happens-before has `seen`
    /// of `c` (and `marked` beyond that, of marked stores).
    #[inline(always)]
    fn conflict(&self, c: usize, plain: bool, write: bool, seen: u32, marked: &VClock) -> Option<Other> {
        if self.w_plain > seen {
            return Some(Other {
                cpu: c,
                write: true,
                plain: true,
            });
        }
        // A marked write may be ordered by reads-from of the store itself.
        if plain && self.w > seen.max(marked.get(c)) {
            return Some(Other {
                cpu: c,
                write: true,
                plain: false,
            });
        }
        if write {
            if self.r_plain > seen {
                return Some(Other {
                    cpu: c,
                    write: false,
                    plain: true,
                });
            }
            if plain && self.r_any > seen {
                return Some(Other {
                    cpu: c,
                    write: false,
                    plain: false,
                });
            }
        }
        None
    }
}

/// The detector's state for one execution.
#[derive(Debug, Default)]
pub(crate) struct Race {
    shadows: Vec<Shadow>,
    wide: Vec<WideShadow>,
    /// Per object (grown on demand), per CPU: the release clock carried by the pointer to the
    /// object that the CPU loaded with a marked load. LKMM's pre-bounding: an access at the end
    /// of an address dependency is ordered after whatever the marked load that produced the
    /// pointer synchronized with (`p = rcu_dereference(gp); p->a` does not race with the
    /// initialization published by `rcu_assign_pointer`). Few CPUs load pointers to few objects,
    /// so the clocks are a list of (object, CPU, clock), not a table with a clock per CPU.
    deps: Vec<(usize, usize, VClock)>,
    /// Per object (grown on demand): which CPUs hold such a dependency.
    dep_cpus: Vec<u64>,
    /// Races are noted in `noted` instead of failing the execution (litmus tests, where a data
    /// race is a flag on the verdict, not the end of the execution).
    pub note_only: bool,
    pub noted: bool,
}

/// The other side of a race.
#[derive(Clone, Copy, Debug)]
struct Other {
    cpu: usize,
    write: bool,
    plain: bool,
}

impl Race {
    pub fn reset(&mut self) {
        self.shadows.clear();
        self.wide.clear();
        self.deps.clear();
        self.dep_cpus.clear();
        self.note_only = false;
        self.noted = false;
    }

    /// New words at `base..base + len`, initialized by `cpu` at clock value `time`.
    pub fn alloc(&mut self, base: usize, len: usize, cpu: usize, time: u32) {
        debug_assert_eq!(self.shadows.len(), base);
        let mut init = Shadow::default();
        if cpu < SHADOW_CPUS {
            init.lo[cpu].w = time;
            init.lo[cpu].w_plain = time;
        }
        self.shadows.resize(base + len, init);
        if cpu >= SHADOW_CPUS {
            for slot in base..base + len {
                self.record(slot, cpu, time, true, false, true);
            }
        }
    }

    #[inline]
    fn last_mut(&mut self, slot: usize, c: usize) -> &mut Last {
        if c < SHADOW_CPUS {
            return &mut self.shadows[slot].lo[c];
        }
        let s = &mut self.shadows[slot];
        if s.wide == 0 {
            self.wide.push([Last::default(); MAX_CPUS - SHADOW_CPUS]);
            s.wide = self.wide.len() as u32;
        }
        &mut self.wide[s.wide as usize - 1][c - SHADOW_CPUS]
    }

    /// A marked load by `cpu` returned a pointer into `obj`, reading a store that carries `sync`.
    pub fn note_dep(&mut self, obj: usize, cpu: usize, sync: &VClock) {
        if self.dep_cpus.len() <= obj {
            self.dep_cpus.resize(obj + 1, 0);
        }
        if self.dep_cpus[obj] & (1 << cpu) == 0 {
            self.dep_cpus[obj] |= 1 << cpu;
            self.deps.push((obj, cpu, *sync));
        } else if let Some(d) = self.deps.iter_mut().find(|d| d.0 == obj && d.1 == cpu) {
            d.2.join(sync);
        }
    }

    /// The dependency clock of `cpu`'s pointer to `obj`, if it has one.
    #[inline]
    pub fn dep_of(&self, obj: usize, cpu: usize) -> Option<&VClock> {
        match self.dep_cpus.get(obj) {
            Some(m) if m & (1 << cpu) != 0 => {
                self.deps.iter().find(|d| d.0 == obj && d.1 == cpu).map(|d| &d.2)
            }
            _ => None,
        }
    }

    /// The first access of another CPU that conflicts with this one and is unordered with it:
    /// `vc` is the accessing CPU's happens-before, `marked` what it knows beyond that of other
    /// CPUs' marked stores.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn conflict(
        &self,
        slot: usize,
        cpu: usize,
        ncpus: usize,
        plain: bool,
        write: bool,
        vc: &VClock,
        marked: &VClock,
    ) -> Option<Other> {
        let s = &self.shadows[slot];
        for c in 0..ncpus.min(SHADOW_CPUS) {
            if c != cpu {
                if let Some(o) = s.lo[c].conflict(c, plain, write, vc.get(c), marked) {
                    return Some(o);
                }
            }
        }
        if ncpus > SHADOW_CPUS && s.wide != 0 {
            return self.conflict_wide(s.wide as usize - 1, cpu, ncpus, plain, write, vc, marked);
        }
        None
    }

    #[cold]
    #[allow(clippy::too_many_arguments)]
    fn conflict_wide(
        &self,
        wide: usize,
        cpu: usize,
        ncpus: usize,
        plain: bool,
        write: bool,
        vc: &VClock,
        marked: &VClock,
    ) -> Option<Other> {
        let w = &self.wide[wide];
        (SHADOW_CPUS..ncpus)
            .filter(|&c| c != cpu)
            .find_map(|c| w[c - SHADOW_CPUS].conflict(c, plain, write, vc.get(c), marked))
    }

    /// Note the access in the word's shadow.
    #[inline]
    pub fn record(&mut self, slot: usize, cpu: usize, time: u32, plain: bool, read: bool, write: bool) {
        let s = self.last_mut(slot, cpu);
        if read {
            s.r_any = time;
            if plain {
                s.r_plain = time;
            }
        }
        if write {
            s.w = time;
            if plain {
                s.w_plain = time;
            }
        }
    }
}

impl Model {
    /// KCSAN's rule for one access. Reports the first race it finds. `dep_obj` is the object
    /// whose address dependency bounds the access (0: none).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn check_race(
        &mut self,
        cpu: usize,
        slot: usize,
        dep_obj: usize,
        kind: Kind,
        read: bool,
        write: bool,
        addr: u64,
        op: &'static str,
    ) {
        let c = &self.cpus[cpu];
        let mut vc = c.vc;
        let mut marked = c.marked.extra;
        if read && !write {
            // `smp_rmb` orders later loads (only) after what earlier loads read.
            vc.join(&c.load_vc);
            marked.join(&c.marked.load);
        }
        if write && c.ctrl {
            // A control dependency orders earlier loads before later stores only.
            vc.join(&c.store_vc);
            marked.join(&c.marked.store);
        }
        if let Some(d) = self.race.dep_of(dep_obj, cpu) {
            vc.join(d);
        }
        let plain = kind == Kind::Plain;
        if let Some(other) = self
            .race
            .conflict(slot, cpu, self.cpus.len(), plain, write, &vc, &marked)
        {
            if self.race.note_only {
                // LKMM's `Flag data-race`: the execution goes on.
                self.race.noted = true;
                return;
            }
            let msg = format!(
                "BUG: KCSAN: data-race in {func}\n\
                 {me_kind} {me_rw} of {loc} by {by} at step {step} ({op})\n\
                 races with an earlier {o_kind} {o_rw} by {ocpu}, unordered by happens-before",
                func = self.func_or(cpu, op),
                me_kind = if plain { "plain" } else { "marked" },
                me_rw = if write { "write" } else { "read" },
                loc = self.heap.describe(addr),
                by = self.cpu_label(cpu),
                step = self.step,
                o_kind = if other.plain { "plain" } else { "marked" },
                o_rw = if other.write { "write" } else { "read" },
                ocpu = self.cpu_label(other.cpu),
            );
            self.record_failure(FailureKind::DataRace, cpu, msg);
        }
    }

    /// `kfree` as KCSAN's slab hook sees it: a plain write of every word of the object.
    pub(super) fn check_free_race(&mut self, cpu: usize, obj: usize, op: &'static str) {
        let Some(o) = self.heap.get(obj).copied() else {
            return;
        };
        let c = &self.cpus[cpu];
        let mut vc = c.vc;
        if let Some(d) = self.race.dep_of(obj, cpu) {
            vc.join(d);
        }
        let marked = &c.marked.extra;
        for off in 0..o.len as usize {
            let slot = o.base as usize + off;
            if let Some(other) = self
                .race
                .conflict(slot, cpu, self.cpus.len(), true, true, &vc, marked)
            {
                let addr = ((obj as u64) << SLOT_BITS) | off as u64;
                let msg = format!(
                    "BUG: KCSAN: data-race in {func}\n\
                     {op} of {obj_name} by {by} at step {step} frees {loc}\n\
                     while an earlier {o_kind} {o_rw} of it by {ocpu} is unordered with the free \
                     by happens-before",
                    func = self.func_or(cpu, op),
                    obj_name = self.heap.object_name(addr),
                    by = self.cpu_label(cpu),
                    step = self.step,
                    loc = self.heap.describe(addr),
                    o_kind = if other.plain { "plain" } else { "marked" },
                    o_rw = if other.write { "write" } else { "read" },
                    ocpu = self.cpu_label(other.cpu),
                );
                self.record_failure(FailureKind::DataRace, cpu, msg);
                return;
            }
        }
    }
}
