//! Memory accesses and fences, behind the memory-model seam.
//!
//! [`Memory`] is the one interface; its two implementations are [`sc`] (every load reads the
//! newest store: today's sequentially consistent execution, and still the default) and [`lkmm`]
//! (a view-based machine in which a load may read an older store, chosen by the search strategy
//! like the choice of CPU). [`access`] is the one path every load, store and RMW takes: the
//! scheduling point, the use-after-free check, the race detector, the happens-before bookkeeping,
//! and then the memory model.

pub(crate) mod lkmm;
pub(crate) mod sc;

use std::cell::Cell;
use std::panic::Location;

use super::vclock::VClock;
use super::{
    cover, me, point_on, runtime, stop_if_failed, task, with, Blocked, LoadDep, Model, StaleRead, SLOT_BITS,
};
use crate::config::MemoryModel;

/// How an access orders and how the race detector treats it (the access kinds of
/// `docs/README.md`; their effect under `lkmm` in `docs/memory-model.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A plain C access: racy unless ordered by happens-before.
    Plain,
    /// `READ_ONCE`/`WRITE_ONCE`, `atomic_read`/`atomic_set`, `rcu_dereference`: marked, unordered.
    Once,
    /// `smp_load_acquire`.
    Acquire,
    /// `smp_store_release`, `rcu_assign_pointer`, or the release half of an unlock.
    Release,
    /// Fully ordered value-returning RMW (`atomic_inc_return`, `xchg`, successful `cmpxchg`):
    /// an `smp_mb()` on each side.
    RmwFull,
    /// An acquiring RMW: a lock taken (`arch_spin_trylock`, `down_read_trylock`), a completion
    /// consumed, `atomic_*_acquire`.
    RmwAcquire,
    /// A releasing RMW (`atomic_long_add_return_release` in `up_read`, `complete`).
    RmwRelease,
    /// Unordered RMW (`atomic_inc`, `atomic_dec`, `this_cpu_inc`, `_relaxed` forms).
    RmwRelaxed,
}

impl Kind {
    #[inline]
    pub(crate) fn is_rmw(self) -> bool {
        matches!(
            self,
            Kind::RmwFull | Kind::RmwAcquire | Kind::RmwRelease | Kind::RmwRelaxed
        )
    }

    #[inline]
    fn acquires(self) -> bool {
        matches!(self, Kind::Acquire | Kind::RmwFull | Kind::RmwAcquire)
    }
}

/// Fences.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fence {
    /// `smp_mb`, and the `smp_mb__{before,after}_atomic` family (modeled as full fences even
    /// without an adjacent RMW: stronger than LKMM, never weaker).
    Mb,
    /// `smp_rmb`: earlier loads before later loads.
    Rmb,
    /// `smp_wmb`: earlier stores before later stores.
    Wmb,
    /// `smp_acquire__after_ctrl_dep`: `smp_rmb` after a branch on a loaded value. The branch
    /// orders the load before later stores (a control dependency the model cannot see), the
    /// `smp_rmb` before later loads: together, an acquire of what earlier loads read.
    AcquireCtrlDep,
    /// A conditional branch on a loaded value, with stores after it (LKMM's control dependency):
    /// later stores, and what they pass on, are ordered after what earlier loads read; later
    /// loads are not. Kernel code declares it where it branches on a marked load
    /// (`rcu_seq_current` before invoking a callback).
    CtrlDep,
    /// `barrier()`: the compiler only.
    Barrier,
}

/// One store as a load sees it.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Msg {
    pub val: u64,
    /// The release clock the value carries: an acquire that reads it synchronizes with it. RMWs
    /// extend it (a release sequence); a non-RMW store replaces it.
    pub sync: VClock,
    /// What a marked load learns beyond `sync`: the marked store itself (LKMM's `rfe` is part of
    /// `hb`) and what earlier marked stores other CPUs' fences passed on. It is kept apart from
    /// `sync` because a clock entry cannot name one store without the writer's earlier accesses
    /// in the same epoch: joined into `sync`, a plain store before the marked one would look
    /// ordered too. The race detector uses it only against marked writes
    /// ([`super::task::MarkedHb`]).
    pub msync: VClock,
    /// Site of the store ([`cover::site`]), for interleaving coverage; 0 when it is off.
    pub site: u32,
    /// The CPU that stored it.
    pub cpu: u8,
    /// The step that stored it (for traces: which store a load read).
    pub step: u32,
}

/// The memory of one execution under its memory model.
#[derive(Debug, Default)]
pub(crate) struct Memory {
    model: MemoryModel,
    newest: sc::Newest,
    weak: lkmm::Machine,
}

thread_local! {
    /// Whether the running execution is under `lkmm`: read before each load without borrowing the
    /// model, so that `sc` pays nothing for the read choice.
    static WEAK: Cell<bool> = const { Cell::new(false) };
}

impl Memory {
    pub fn reset(&mut self, model: MemoryModel) {
        self.model = model;
        WEAK.with(|w| w.set(model == MemoryModel::Lkmm));
        self.newest.reset();
        if model == MemoryModel::Lkmm {
            self.weak.reset();
        }
    }

    #[inline]
    pub fn is_weak(&self) -> bool {
        self.model == MemoryModel::Lkmm
    }

    pub fn alloc(&mut self, base: usize, len: usize, obj: usize, cpu: usize, step: u64) {
        let init = Msg {
            cpu: cpu as u8,
            step: step as u32,
            ..Msg::default()
        };
        self.newest.alloc(base, len, init);
        if self.is_weak() {
            self.weak.alloc(base, len, obj, init, cpu);
        }
    }

    /// The LKMM machine, if this execution runs under it.
    #[inline]
    pub fn lkmm(&mut self) -> Option<&mut lkmm::Machine> {
        if self.is_weak() {
            Some(&mut self.weak)
        } else {
            None
        }
    }

    pub fn fence(&mut self, cpu: usize, f: Fence) {
        if let Some(w) = self.lkmm() {
            w.fence(cpu, f);
        }
    }
}

/// One checked access to the word at `addr`: a scheduling point, the use-after-free and race
/// checks, the happens-before bookkeeping, then `f(old) -> (result, new value to store)`.
/// `writes` says whether the operation is a store or RMW; an RMW whose `f` stores nothing (a
/// failed `cmpxchg`, a lock found taken) is a marked load and orders nothing.
#[inline]
pub(crate) fn access(
    addr: u64,
    kind: Kind,
    op: &'static str,
    writes: bool,
    caller: &'static Location<'static>,
    f: impl FnOnce(u64) -> (u64, Option<u64>),
) -> u64 {
    let cpu = me();
    let obj = (addr >> SLOT_BITS) as usize;
    point_on(obj, cpu);
    // Under lkmm a load that is not part of an RMW may read one of several stores: which one is
    // the strategy's decision, asked outside the model's borrow.
    let back = if !writes && WEAK.with(|w| w.get()) {
        let n = with(|m| m.load_choices(cpu, addr, kind));
        if n > 1 {
            runtime::choose_read(n)
        } else {
            0
        }
    } else {
        0
    };
    let (ret, woken) = with(|m| m.access(cpu, addr, obj, kind, op, writes, back, caller, f));
    task::unblock_tasks(woken);
    stop_if_failed();
    ret
}

/// The coherence-final value of the word at `addr` (its newest store), read outside any CPU:
/// no scheduling point, no event, no race check. For the final state of a litmus test once every
/// process has finished; `None` for an address that is not a live word.
pub(crate) fn final_value(addr: u64) -> Option<u64> {
    with(|m| m.slot_of(addr).map(|slot| m.mem.newest.get(slot).val))
}

/// The running CPU's next store to the word at `addr` is made before accesses that precede it
/// in a litmus test (`Some`), or that store's window closes (`None`): in between, the CPU's
/// loads of the word read only stores older than it. Under `sc`, or for an address that is not
/// a live word, nothing.
pub(crate) fn hoist(addr: Option<u64>) {
    let cpu = me();
    with(|m| {
        let slot = addr.and_then(|addr| m.slot_of(addr));
        if let Some(w) = m.mem.lkmm() {
            w.hoist(cpu, slot);
        }
    });
}

/// The running CPU's plain store of `value` at `addr`, made after its hoisted store
/// ([`hoist`]), is ordered before that store in the litmus test.
pub(crate) fn bound_plain(addr: u64, value: u64) {
    let cpu = me();
    with(|m| {
        if let Some(slot) = m.slot_of(addr) {
            if let Some(w) = m.mem.lkmm() {
                w.bound_plain(cpu, slot, value);
            }
        }
    });
}

/// The running CPU's next store is a plain store made, in a litmus test's guarded variant,
/// between a store to the same word made early ([`hoist`]) and that store's place: in the test
/// it comes first in coherence order, so the early store overwrites it at once and no load can
/// read it. It is checked for races, as it runs, and left out of memory.
pub(crate) fn next_store_hidden() {
    let cpu = me();
    with(|m| m.cpus[cpu].hidden_next = true);
}

/// Whether no CPU was seen to miss a plain store a hoisted store is ordered after
/// (`lkmm::Machine::bounded_plain_seen`); true without hoisted stores.
pub(crate) fn bounded_plain_seen() -> bool {
    with(|m| !m.mem.is_weak() || m.mem.weak.bounded_plain_seen())
}

impl Model {
    /// The slot of the live word at `addr`.
    fn slot_of(&self, addr: u64) -> Option<usize> {
        let obj = (addr >> SLOT_BITS) as usize;
        let off = (addr & ((1 << SLOT_BITS) - 1)) as u32;
        match self.heap.get(obj) {
            Some(o) if obj != 0 && off < o.len => Some((o.base + off) as usize),
            _ => None,
        }
    }

    /// The object whose dependency applies to `cpu`'s access to `obj`: `obj` itself (every
    /// access through a pointer the CPU loaded with a marked load depends on that load), or,
    /// when the caller says which accesses depend ([`super::explicit_dependencies`]), object 0
    /// (none) for an access it did not mark dependent.
    #[inline]
    fn dep_obj(&self, cpu: usize, obj: usize) -> usize {
        if self.explicit_deps && !self.cpus[cpu].dep_next {
            0
        } else {
            obj
        }
    }

    /// How many stores a load of `addr` may read (1 when there is no choice or no such word).
    fn load_choices(&self, cpu: usize, addr: u64, kind: Kind) -> usize {
        let obj = (addr >> SLOT_BITS) as usize;
        let off = (addr & ((1 << SLOT_BITS) - 1)) as u32;
        match self.heap.get(obj) {
            Some(o) if obj != 0 && off < o.len && o.freed.is_none() => {
                self.mem
                    .weak
                    .choices(cpu, (o.base + off) as usize, self.dep_obj(cpu, obj), kind)
            }
            _ => 1,
        }
    }

    #[allow(clippy::too_many_arguments)]
    #[inline]
    fn access(
        &mut self,
        cpu: usize,
        addr: u64,
        obj: usize,
        kind: Kind,
        op: &'static str,
        writes: bool,
        back: usize,
        caller: &'static Location<'static>,
        f: impl FnOnce(u64) -> (u64, Option<u64>),
    ) -> (u64, u64) {
        if !self.tick(cpu, op) {
            return (0, 0);
        }
        // The object whose address dependency applies; a declared dependency is used up here.
        let dep = self.dep_obj(cpu, obj);
        self.cpus[cpu].dep_next = false;
        // Set only with explicit dependencies (litmus tests): harness accesses skip the copy.
        let (data, hidden) = if self.explicit_deps {
            let c = &mut self.cpus[cpu];
            (c.data_next.take(), std::mem::take(&mut c.hidden_next))
        } else {
            (None, false)
        };
        let Some((slot, object, touched_by)) = self.resolve(cpu, addr, op, writes) else {
            self.record_event(cpu, op, addr, None, None, caller);
            return (0, 0);
        };
        let reads = !writes || kind.is_rmw();
        // The store this access reads: an RMW reads the newest (atomicity), a load what the
        // strategy chose among those the memory model allows.
        let (msg, ts) = if !self.mem.is_weak() {
            (*self.mem.newest.get(slot), 0)
        } else if writes {
            (*self.mem.newest.get(slot), self.mem.weak.newest(slot))
        } else {
            self.mem.weak.pick(cpu, slot, dep, kind, back)
        };
        let old = msg.val;
        let (ret, new) = f(old);
        let write = new.is_some();
        // An RMW that does not write orders nothing: it is a marked read.
        let kind = if kind.is_rmw() && !write { Kind::Once } else { kind };
        let is_rmw = kind.is_rmw();
        if kind == Kind::RmwFull {
            // The smp_mb() before a fully ordered RMW.
            self.fence_effects(cpu, Fence::Mb);
        }
        if self.config.kcsan {
            self.check_race(cpu, slot, dep, kind, reads, write, addr, op);
        }
        let time = self.cpus[cpu].vc.get(cpu);
        let plain = kind == Kind::Plain;
        self.race.record(slot, cpu, time, plain, reads, write);
        let site = if self.feedback || cover::map_on() {
            cover::site(caller, self.cpus[cpu].funcs.last().copied().unwrap_or(""), op)
        } else {
            0
        };
        // An access to an object no other CPU can reach yet makes no near miss: another CPU
        // can free or overwrite it only after this one publishes it, later. An RMW that did not
        // write (a failed cmpxchg or trylock) overwrote nothing; it is not a load to go stale
        // either (counted as one, every spin on a trylock made a near miss of the release it
        // waited for, and the slowest cells of `kgrace bench --seeds 300` rose by up to 9).
        // `touched_by` is as `resolve` found it: nothing since has touched the heap.
        if self.feedback && touched_by & !(1 << cpu) != 0 {
            self.near.touch(object, slot, cpu, site, reads && !writes, write);
        }
        if reads {
            let c = &mut self.cpus[cpu];
            if kind.acquires() {
                c.vc.join(&msg.sync);
                c.marked.extra.join(&msg.msync);
            }
            c.pending_acq.join(&msg.sync);
            c.marked.pending.join(&msg.msync);
            if site != 0 {
                cover::reads_from(
                    site,
                    msg.site,
                    addr & ((1 << SLOT_BITS) - 1),
                    msg.cpu as usize != cpu,
                    self.feedback,
                );
            }
            // The value read may be a pointer: accesses through it depend on this load.
            let target = self.heap.pointee(old);
            let mut post = 0;
            if self.mem.is_weak() {
                post = self.mem.weak.after_load(cpu, slot, dep, kind, ts);
                if let Some(t) = target {
                    self.mem.weak.note_dep(cpu, t, post);
                }
            }
            if self.explicit_deps {
                self.cpus[cpu].last_load = LoadDep {
                    sync: msg.sync,
                    msync: msg.msync,
                    view: post,
                };
            }
            if let (Some(t), false) = (target, plain) {
                // A chain of dependencies: the load itself was bounded by the pointer it went
                // through, and so is everything reached through what it read.
                let mut sync = msg.sync;
                if let Some(d) = self.race.dep_of(dep, cpu) {
                    sync.join(d);
                }
                self.race.note_dep(t, cpu, &sync);
            }
        }
        let mut released = false;
        let mut marked_store = false;
        if let Some(v) = new {
            if self.cpus[cpu].ctrl {
                // Stores after a control dependency pass on what it ordered: `fence_rel` serves
                // stores only, so it can keep it.
                let c = &mut self.cpus[cpu];
                let (s, ms) = (c.store_vc, c.marked.store);
                c.fence_rel.join(&s);
                c.marked.fence_rel.join(&ms);
            }
            let c = &self.cpus[cpu];
            // A marked store that another CPU's marked load reads from is ordered before that
            // load (LKMM: `rfe` is part of `hb`), but the writer's earlier accesses are not,
            // unless a fence or a release put them in `sync`: the store itself goes in `msync`.
            let mut own = c.marked.fence_rel;
            own.raise(cpu, time);
            let (sync, msync) = match kind {
                Kind::Release | Kind::RmwFull | Kind::RmwRelease => {
                    released = true;
                    // Everything before it, and what the stores its earlier loads read had
                    // ordered before them: a release is A-cumulative (LKMM's
                    // `A-cumul(po-rel)` = `rfe? ; po-rel`). After a control dependency, also what
                    // that ordered (for this store, not for later loads: `vc` keeps none of it).
                    let (mut vc, mut m) = (c.vc, c.marked.extra);
                    vc.join(&c.pending_acq);
                    m.join(&c.marked.pending);
                    if c.ctrl {
                        vc.join(&c.store_vc);
                        m.join(&c.marked.store);
                    }
                    if is_rmw {
                        let mut s = msg.sync;
                        s.join(&vc);
                        m.join(&msg.msync);
                        (s, m)
                    } else {
                        (vc, m)
                    }
                }
                // An RMW continues the release sequence of the value it replaces.
                Kind::RmwRelaxed | Kind::RmwAcquire => {
                    marked_store = true;
                    let mut s = msg.sync;
                    s.join(&c.fence_rel);
                    own.join(&msg.msync);
                    (s, own)
                }
                Kind::Once => {
                    marked_store = true;
                    let mut sync = c.fence_rel;
                    if let Some(d) = &data {
                        // A data dependency is in `ppo`: what the loads read is ordered first.
                        sync.join(&d.sync);
                        own.join(&d.msync);
                    }
                    (sync, own)
                }
                _ => (c.fence_rel, c.marked.fence_rel),
            };
            let stored = Msg {
                val: v,
                sync,
                msync,
                site,
                cpu: cpu as u8,
                step: self.step as u32,
            };
            // A hidden store is overwritten, in coherence order, by a store the CPU made
            // earlier: no load can read it (see `next_store_hidden`).
            if !hidden {
                self.mem.newest.set(slot, stored);
            }
            if let Some(w) = self.mem.lkmm().filter(|_| !hidden) {
                // With explicit dependencies, the view a later load of this CPU gets when it
                // reads this store (Promising's forwarding): what its address and value came
                // from. Without them it is unknown, and such a load gets the store's timestamp.
                let forward = self
                    .explicit_deps
                    .then(|| w.dep_view(cpu, dep).max(data.map_or(0, |d| d.view)));
                w.store(cpu, slot, kind, stored, forward);
            }
        }
        if kind == Kind::RmwFull {
            // The smp_mb() after: later marked stores carry everything up to here.
            self.fence_effects(cpu, Fence::Mb);
        }
        // The CPU's later accesses are not covered by what this store carries.
        if released || marked_store {
            self.cpus[cpu].vc.tick(cpu);
        }
        if self.events.is_some() {
            if reads {
                self.timeline.reads_from.push((self.step, u64::from(msg.step)));
            }
            let read = reads.then_some(old);
            let stale = (back > 0 && !writes).then(|| {
                let newest = self.mem.newest.get(slot);
                StaleRead {
                    read_from_step: u64::from(msg.step),
                    newest_step: u64::from(newest.step),
                    newest_value: newest.val,
                }
            });
            self.push_event(cpu, op, addr, read, new, stale, caller);
        }
        let mut woken = 0u64;
        if let Some(o) = self.heap.get_mut(obj) {
            o.cpus |= 1 << cpu;
        }
        if let Some(v) = new {
            // A stored pointer makes its object reachable by every CPU.
            self.heap.escape(v);
            if let Some(o) = self.heap.get_mut(obj) {
                o.wgen += 1;
            }
            if self.object_waiters != 0 {
                woken = self.unblock_where(|b| b == Blocked::OnObject(obj as u32));
            }
        }
        (ret, woken)
    }

    /// What a fence does to the race detector's clocks and to the memory model's views.
    pub(super) fn fence_effects(&mut self, cpu: usize, f: Fence) {
        let c = &mut self.cpus[cpu];
        match f {
            Fence::Mb => {
                let p = c.pending_acq;
                c.vc.join(&p);
                c.fence_rel = c.vc;
                c.vc.tick(cpu);
                let m = &mut c.marked;
                m.extra.join(&m.pending);
                m.fence_rel = m.extra;
                // What a control dependency ordered is part of `vc` now.
                if c.ctrl {
                    c.ctrl = false;
                    c.store_vc = VClock::default();
                    c.marked.store = VClock::default();
                }
            }
            Fence::CtrlDep => {
                let p = c.pending_acq;
                c.store_vc.join(&p);
                let m = &mut c.marked;
                m.store.join(&m.pending);
                c.ctrl = true;
            }
            // Later loads only are ordered after what earlier loads read.
            Fence::Rmb => {
                let p = c.pending_acq;
                c.load_vc.join(&p);
                let m = &mut c.marked;
                m.load.join(&m.pending);
            }
            Fence::AcquireCtrlDep => {
                let p = c.pending_acq;
                c.vc.join(&p);
                c.load_vc.join(&p);
                let m = &mut c.marked;
                m.extra.join(&m.pending);
                m.load.join(&m.pending);
            }
            Fence::Wmb => {
                // Later stores carry the clock as of here. It also covers the CPU's earlier plain
                // loads, which LKMM leaves unordered: a race missed, never a false one.
                c.fence_rel = c.vc;
                c.vc.tick(cpu);
                c.marked.fence_rel = c.marked.extra;
            }
            Fence::Barrier => {}
        }
        self.mem.fence(cpu, f);
    }
}

/// A fence: `smp_mb`, `smp_rmb`, `smp_wmb` or `barrier`.
pub(crate) fn fence(f: Fence, op: &'static str, caller: &'static Location<'static>) {
    // A fence changes only the running CPU's own clocks and views: where it is interleaved with
    // other CPUs' steps changes no outcome under either memory model.
    super::local_point();
    let cpu = me();
    with(|m| {
        m.step += 1;
        m.fence_effects(cpu, f);
        m.record_event(cpu, op, 0, None, None, caller);
    });
}
