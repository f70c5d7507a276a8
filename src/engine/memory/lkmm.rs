//! The `lkmm` memory model: a promise-free Promising-ARM machine (Pulte, Pichon-Pharabod, Kang,
//! Lee and Hur, "Promising-ARM/RISC-V: a simpler and faster operational concurrency model",
//! PLDI 2019), with the kernel's primitives mapped as arm64 maps them, or stronger.
//!
//! * **Memory** is one append-only list of stores (messages). A store's timestamp is its position,
//!   so every location's stores are in coherence order, and every store takes the largest
//!   timestamp yet: stores are committed in program order (no promises).
//! * **Views.** Each CPU has scalar views: `vr_new`, a lower bound for its later loads;
//!   `vr_old`/`vw_old`, the joins of what its past loads and stores saw; `v_rel`, its latest
//!   release store; and `coh`, per location, the newest store it has read or written there.
//! * **A load** computes `pre = vr_new ⊔ dep ⊔ (v_rel if an RCsc acquire)`, where `dep` is the
//!   view of the pointer it goes through (an address dependency, see below). It may read any
//!   store of the location from `floor = max(coh, newest store ≤ pre)` up to the newest: *which*
//!   is the search strategy's decision (0 is the newest, what SC reads). Then
//!   `post = pre ⊔ ts`; `coh = ts`, `vr_old ⊔= post`, and an acquire also `vr_new ⊔= post`.
//! * **Fences.** `smp_mb`: `vr_new ⊔= vr_old ⊔ vw_old` (store buffering forbidden); `smp_rmb`:
//!   `vr_new ⊔= vr_old` (loads only); `smp_wmb`: nothing, since stores are already in order.
//!   A fully ordered RMW is an `smp_mb` on each side of an RCsc-acquire RMW; RMWs read the newest
//!   store (atomicity).
//! * **Forwarding.** Where the caller declares dependencies (litmus tests), a plain or once load
//!   that reads its CPU's own newest plain or once store there takes, in place of that store's
//!   timestamp, the view its address and value came from (Promising's forward bank). Without
//!   declared dependencies that view is unknown, and the timestamp (larger) is used.
//! * **Address dependencies without harness changes.** When a load returns a pointer into an
//!   object, the CPU's dependency view for that object rises to the load's `post`; every later
//!   access of the CPU to that object starts from it. Keyed by object, never replaced, only
//!   joined: a missed dependency would be unsound, an extra one only costs coverage.
//!
//! Soundness rests on the chain machine ⊆ Promising-ARM ⊆ ARMv8 ⊆ LKMM (under the kernel's
//! arm64 mapping): removing promises, raising views and adding barriers only remove behaviours.
//! What it therefore cannot produce (all `Sometimes` in LKMM): load buffering (a load reading a
//! store that is not yet executed), reordering of two stores (`MP` with a plain writer is seen
//! only through the reader's side), non-multicopy-atomic outcomes (`IRIW` with acquires, `WRC`
//! without cumulativity), store buffering across a release followed by an acquire on one CPU
//! (arm64's acquire is RCsc), and a failed `cmpxchg` or lock attempt reading anything but the
//! newest store.
//!
//! Liveness: a CPU that spins (`cpu_relax`) or wakes from a wait catches up with every store so
//! far, the operational reading of coherence's eventual visibility; without it a waiter could
//! re-read a stale value forever and report a false deadlock.

use super::Msg;
use crate::engine::memory::{Fence, Kind};
use crate::engine::vclock::MAX_CPUS;

/// One store in the machine's memory.
#[derive(Clone, Copy, Debug)]
struct Stored {
    msg: Msg,
    /// Timestamp of the previous store to the same slot (0: none).
    prev: u32,
}

/// Per slot: its newest store, and per CPU the newest store it has read or written there.
#[derive(Clone, Copy, Debug)]
struct SlotState {
    newest: u32,
    coh: [u32; MAX_CPUS],
}

impl Default for SlotState {
    fn default() -> Self {
        SlotState {
            newest: 0,
            coh: [0; MAX_CPUS],
        }
    }
}

/// One CPU's views (timestamps; 0 sees only initial values).
#[derive(Clone, Copy, Debug, Default)]
struct Views {
    vr_new: u32,
    vr_old: u32,
    vw_old: u32,
    v_rel: u32,
    /// A load read an older store than the newest since the CPU last caught up.
    stale: bool,
}

impl Views {
    fn all(&self) -> u32 {
        self.vr_new.max(self.vr_old).max(self.vw_old)
    }
}

/// The machine's state for one execution.
#[derive(Debug)]
pub(crate) struct Machine {
    /// Every store, in timestamp order: timestamp = index + 1.
    msgs: Vec<Stored>,
    slots: Vec<SlotState>,
    /// Per object, per CPU: the view of the CPU's pointer to the object.
    deps: Vec<[u32; MAX_CPUS]>,
    views: [Views; MAX_CPUS],
    /// Join of the views of every `synchronize_rcu` at its start; see [`Machine::rcu_reader_enter`].
    gp_start: [u32; crate::engine::rcu::DOMAINS],
    /// Promising's forward bank, for the stores whose dependencies the caller declared (litmus
    /// tests): per (slot, CPU), the CPU's newest plain or `WRITE_ONCE` store there and the view
    /// its address and value came from. Empty otherwise; a handful of entries when not.
    forward: Vec<Forward>,
    /// Per CPU, a store made before accesses that precede it in a litmus test (a guarded
    /// variant, [`Machine::hoist`]): until the window closes, the CPU's loads of its slot read
    /// only older stores, as they would have before the store was made.
    hoisted: [Option<Hoisted>; MAX_CPUS],
    /// Since the first store made early: every load (CPU, slot, value), and the plain stores
    /// a hoisted store is ordered after in the test ([`Machine::bound_plain`]). Empty otherwise.
    early: Option<Box<Early>>,
}

#[derive(Debug, Default)]
struct Early {
    loads: Vec<(u8, u32, u64)>,
    /// Each plain store another CPU must not be seen to miss: (CPU, slot, value, the first
    /// of `loads` made after the hoisted store it is ordered before).
    bounded: Vec<(u8, u32, u64, u32)>,
}

#[derive(Clone, Copy, Debug)]
struct Hoisted {
    slot: u32,
    /// The CPU's coherence point in the slot before the store.
    coh: u32,
    /// The store's timestamp (0: not made yet).
    ts: u32,
    /// How many loads [`Early`] had logged when the store was made.
    loads: u32,
}

#[derive(Clone, Copy, Debug)]
struct Forward {
    slot: u32,
    cpu: u8,
    ts: u32,
    view: u32,
}

impl Default for Machine {
    fn default() -> Self {
        Machine {
            msgs: Vec::new(),
            slots: Vec::new(),
            deps: Vec::new(),
            views: [Views::default(); MAX_CPUS],
            gp_start: Default::default(),
            forward: Vec::new(),
            hoisted: [None; MAX_CPUS],
            early: None,
        }
    }
}

/// Whether a load of this kind is an RCsc acquire (arm64's `LDAR`, and the lock and fully ordered
/// RMW sequences built on it): it is ordered after the CPU's earlier release stores.
fn rcsc(kind: Kind) -> bool {
    matches!(kind, Kind::Acquire | Kind::RmwAcquire | Kind::RmwFull)
}

impl Machine {
    pub fn reset(&mut self) {
        self.msgs.clear();
        self.slots.clear();
        self.deps.clear();
        // NULL's object.
        self.deps.push([0; MAX_CPUS]);
        self.views = [Views::default(); MAX_CPUS];
        self.gp_start = Default::default();
        self.forward.clear();
        self.hoisted = [None; MAX_CPUS];
        self.early = None;
    }

    /// `cpu`'s next store to `slot` is made early (`Some`), or the window of the one made early
    /// closes (`None`). Between the two, a load of the slot by `cpu` is one that comes before
    /// the store in the test: it reads a store older than it, never it or a newer one
    /// (coherence), and no older than the CPU's coherence point before it.
    pub fn hoist(&mut self, cpu: usize, slot: Option<usize>) {
        // Loads are logged from the first store made early on (`Early`).
        let loads = match slot {
            Some(_) => self.early.get_or_insert_with(Box::default).loads.len() as u32,
            None => 0,
        };
        self.hoisted[cpu] = slot.map(|slot| Hoisted {
            slot: slot as u32,
            coh: self.slots[slot].coh[cpu],
            ts: 0,
            loads,
        });
    }

    /// `cpu`'s plain store of `value` to `slot`, made after its hoisted store, is ordered before
    /// that store in the test (`smp_wmb()` between them, LKMM's `w-post-bounded`): another CPU
    /// that sees the hoisted store and then loads the slot must see this value (LKMM's
    /// plain-coherence), which the machine, having made the plain store later, does not ensure.
    pub fn bound_plain(&mut self, cpu: usize, slot: usize, value: u64) {
        if let (Some(e), Some(h)) = (&mut self.early, self.hoisted[cpu]) {
            e.bounded.push((cpu as u8, slot as u32, value, h.loads));
        }
    }

    /// Whether every load by another CPU, since the first store made early, of a slot whose
    /// plain store [`Machine::bound_plain`] registered read that store's value. An execution
    /// where one did not may be one LKMM forbids, and is not counted. (Stronger than LKMM,
    /// which requires it only of loads ordered after the hoisted store: where the value is the
    /// same, an execution reading the plain store itself has the same outcome.)
    pub fn bounded_plain_seen(&self) -> bool {
        let Some(e) = &self.early else {
            return true;
        };
        e.bounded.iter().all(|&(cpu, slot, value, from)| {
            e.loads[from as usize..]
                .iter()
                .all(|&(c, sl, v)| c == cpu || sl != slot || v == value)
        })
    }

    /// The newest store of `slot` a load by `cpu` may read, and the CPU's coherence point there
    /// (below the store made early, in its window).
    fn top(&self, cpu: usize, slot: usize) -> (u32, u32) {
        let st = &self.slots[slot];
        match self.hoisted[cpu] {
            Some(h) if h.slot as usize == slot && h.ts != 0 => {
                let mut t = st.newest;
                while t >= h.ts {
                    t = self.msgs[t as usize - 1].prev;
                }
                (t, h.coh)
            }
            _ => (st.newest, st.coh[cpu]),
        }
    }

    /// New zeroed words at `base..base + len` of object `obj`, written by `cpu`.
    pub fn alloc(&mut self, base: usize, len: usize, obj: usize, init: Msg, cpu: usize) {
        debug_assert_eq!(self.slots.len(), base);
        for _ in 0..len {
            self.msgs.push(Stored { msg: init, prev: 0 });
            let ts = self.msgs.len() as u32;
            let mut st = SlotState {
                newest: ts,
                ..SlotState::default()
            };
            st.coh[cpu] = ts;
            self.slots.push(st);
        }
        self.views[cpu].vw_old = self.msgs.len() as u32;
        if self.deps.len() <= obj {
            self.deps.resize(obj + 1, [0; MAX_CPUS]);
        }
    }

    fn pre(&self, cpu: usize, obj: usize, kind: Kind) -> u32 {
        let v = &self.views[cpu];
        let mut pre = v.vr_new.max(self.deps[obj][cpu]);
        if rcsc(kind) {
            pre = pre.max(v.v_rel);
        }
        pre
    }

    /// The oldest store a load may read: the newer of the CPU's coherence point and the newest
    /// store its view `pre` covers (the location's first store if the view covers none).
    fn floor(&self, cpu: usize, slot: usize, pre: u32) -> u32 {
        let (mut t, coh) = self.top(cpu, slot);
        while t > pre {
            let p = self.msgs[t as usize - 1].prev;
            if p == 0 {
                break;
            }
            t = p;
        }
        t.max(coh)
    }

    /// How many stores a load of this kind by `cpu` may read (1: only the newest).
    pub fn choices(&self, cpu: usize, slot: usize, obj: usize, kind: Kind) -> usize {
        let floor = self.floor(cpu, slot, self.pre(cpu, obj, kind));
        let mut n = 1;
        let mut t = self.top(cpu, slot).0;
        loop {
            let p = self.msgs[t as usize - 1].prev;
            if p == 0 || p < floor {
                return n;
            }
            n += 1;
            t = p;
        }
    }

    /// The store `back` places older than the newest one of `slot` (clamped to the oldest the
    /// load may read), and its timestamp.
    pub fn pick(&mut self, cpu: usize, slot: usize, obj: usize, kind: Kind, back: usize) -> (Msg, u32) {
        let mut t = self.top(cpu, slot).0;
        if back > 0 {
            let floor = self.floor(cpu, slot, self.pre(cpu, obj, kind));
            for _ in 0..back {
                let p = self.msgs[t as usize - 1].prev;
                if p == 0 || p < floor {
                    break;
                }
                t = p;
            }
            self.views[cpu].stale |= t != self.slots[slot].newest;
        }
        (self.msgs[t as usize - 1].msg, t)
    }

    /// The load of the store at `ts` by `cpu` has happened: update its views. Returns the view
    /// the loaded value carries (`post`).
    pub fn after_load(&mut self, cpu: usize, slot: usize, obj: usize, kind: Kind, ts: u32) -> u32 {
        // A load reading the CPU's own newest store there gets that store's forward view, not
        // its timestamp (Promising-ARM's `read-view`): the value came straight from the
        // store, which need not have reached memory. Acquires and RMWs are left out (stronger).
        let mut seen = ts;
        if matches!(kind, Kind::Plain | Kind::Once) {
            if let Some(f) = self
                .forward
                .iter()
                .find(|f| f.slot as usize == slot && f.cpu as usize == cpu && f.ts == ts)
            {
                seen = f.view;
            }
        }
        let post = self.pre(cpu, obj, kind).max(seen);
        if let Some(e) = &mut self.early {
            e.loads
                .push((cpu as u8, slot as u32, self.msgs[ts as usize - 1].msg.val));
        }
        let c = &mut self.slots[slot].coh[cpu];
        *c = (*c).max(ts);
        let v = &mut self.views[cpu];
        // A void RMW's read is not ordered by `smp_rmb` (LKMM's `R4rmb`).
        if kind != Kind::RmwRelaxed {
            v.vr_old = v.vr_old.max(post);
        }
        if rcsc(kind) {
            v.vr_new = v.vr_new.max(post);
        }
        post
    }

    /// `cpu` loaded a pointer into `obj` whose load carries `post`.
    pub fn note_dep(&mut self, cpu: usize, obj: usize, post: u32) {
        let d = &mut self.deps[obj][cpu];
        *d = (*d).max(post);
    }

    /// The view of `cpu`'s address dependency on object `obj` (0: none).
    pub fn dep_view(&self, cpu: usize, obj: usize) -> u32 {
        self.deps.get(obj).map_or(0, |d| d[cpu])
    }

    /// Append a store by `cpu`; returns its timestamp. `forward`: the view its address and value
    /// were computed from, when the caller knows it (a later load of the CPU that reads this
    /// store gets that view, see [`Machine::after_load`]).
    pub fn store(&mut self, cpu: usize, slot: usize, kind: Kind, msg: Msg, forward: Option<u32>) -> u32 {
        let prev = self.slots[slot].newest;
        self.msgs.push(Stored { msg, prev });
        let ts = self.msgs.len() as u32;
        if let (Some(view), Kind::Plain | Kind::Once) = (forward, kind) {
            match self
                .forward
                .iter_mut()
                .find(|f| f.slot as usize == slot && f.cpu as usize == cpu)
            {
                Some(f) => {
                    f.ts = ts;
                    f.view = view;
                }
                None => self.forward.push(Forward {
                    slot: slot as u32,
                    cpu: cpu as u8,
                    ts,
                    view,
                }),
            }
        }
        if let Some(h) = &mut self.hoisted[cpu] {
            if h.slot as usize == slot && h.ts == 0 {
                h.ts = ts;
            }
        }
        let st = &mut self.slots[slot];
        st.newest = ts;
        st.coh[cpu] = ts;
        let v = &mut self.views[cpu];
        v.vw_old = v.vw_old.max(ts);
        if matches!(kind, Kind::Release | Kind::RmwRelease | Kind::RmwFull) {
            v.v_rel = v.v_rel.max(ts);
        }
        ts
    }

    pub fn fence(&mut self, cpu: usize, f: Fence) {
        let v = &mut self.views[cpu];
        match f {
            Fence::Mb => v.vr_new = v.vr_new.max(v.vr_old).max(v.vw_old),
            // Stores are never reordered before earlier loads in this machine (no promises), so
            // the control dependency adds nothing to smp_rmb's view.
            Fence::Rmb | Fence::AcquireCtrlDep => v.vr_new = v.vr_new.max(v.vr_old),
            // The same: a store never runs before the loads it depends on.
            Fence::Wmb | Fence::CtrlDep | Fence::Barrier => {}
        }
    }

    /// A CPU about to wait: if it read an older store than the newest since it last caught up,
    /// its check may have failed on that stale value, so it catches up and must retry instead of
    /// sleeping (returns true).
    pub fn retry_instead_of_waiting(&mut self, cpu: usize) -> bool {
        let stale = self.views[cpu].stale;
        if stale {
            self.catch_up(cpu);
        }
        stale
    }

    /// The timestamp of the newest store of `slot` (what an RMW reads).
    pub fn newest(&self, slot: usize) -> u32 {
        self.slots[slot].newest
    }

    /// `cpu` sees every store so far (it spun, or woke from a wait).
    pub fn catch_up(&mut self, cpu: usize) {
        let v = &mut self.views[cpu];
        v.vr_new = v.vr_new.max(self.msgs.len() as u32);
        v.stale = false;
    }

    /// A new CPU starts with everything its parent has seen (spawn is a release and an acquire).
    pub fn spawn(&mut self, parent: usize, child: usize) {
        let all = self.views[parent].all();
        self.views[child] = Views {
            vr_new: all,
            vr_old: all,
            ..Views::default()
        };
    }

    /// `from`'s past is ordered before `to`'s future (join, wake-up).
    pub fn handover(&mut self, from: usize, to: usize) {
        let all = self.views[from].all();
        let v = &mut self.views[to];
        v.vr_new = v.vr_new.max(all);
        v.vr_old = v.vr_old.max(all);
    }

    /// `synchronize_rcu` begins on `cpu`: a full fence, then its view is published so that a
    /// reader that begins later sees what came before the grace period (explanation.txt's RCU
    /// guarantee, second half).
    pub fn rcu_gp_start(&mut self, cpu: usize, domain: usize) {
        self.fence(cpu, Fence::Mb);
        self.gp_start[domain] = self.gp_start[domain].max(self.views[cpu].vr_new);
    }

    /// An outermost `rcu_read_lock` on `cpu`.
    pub fn rcu_reader_enter(&mut self, cpu: usize, domain: usize) {
        let v = &mut self.views[cpu];
        v.vr_new = v.vr_new.max(self.gp_start[domain]);
    }

    /// What an outermost `rcu_read_unlock` on `cpu` has seen: a grace period that waited for the
    /// section ends after it (first half of the guarantee).
    pub fn exit_view(&self, cpu: usize) -> u32 {
        let v = &self.views[cpu];
        v.vr_old.max(v.vw_old)
    }

    /// `synchronize_rcu` returns on `cpu` after waiting for sections that had seen `waited`.
    pub fn rcu_gp_end(&mut self, cpu: usize, waited: u32) {
        let v = &mut self.views[cpu];
        v.vr_new = v.vr_new.max(waited);
        v.vr_old = v.vr_old.max(waited);
        self.fence(cpu, Fence::Mb);
    }
}
