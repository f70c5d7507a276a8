//! Running one process of a checked test against an abstract [`Machine`].
//!
//! The interpreter owns only the registers; every access to shared memory, every fence, lock,
//! RCU or SRCU operation is a [`Machine`] call, so the engine decides interleaving, memory
//! model, and race detection. Registers and memory hold 64-bit words; a pointer is whatever
//! [`Machine::addr_of`] returned for a location, so the engine can recognize addresses flowing
//! through registers and memory (address dependencies) and print them back as names.

use super::ast::{BinOp, UnOp};
use super::check::{Instr, Proc, Program};

/// How a load is marked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LoadKind {
    /// `r = *x`: a plain C read, which can take part in a data race.
    Plain,
    /// `READ_ONCE(*x)`, `atomic_read(x)`.
    Once,
    /// `smp_load_acquire(x)`, `atomic_read_acquire(x)`.
    Acquire,
    /// `rcu_dereference(*p)`: LKMM treats it as `READ_ONCE`; kept apart so an engine can model
    /// the address dependency it heads.
    RcuDeref,
}

/// How a store is marked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StoreKind {
    /// `*x = v`: a plain C write.
    Plain,
    /// `WRITE_ONCE(*x, v)`, `atomic_set(x, v)`; also the store of `smp_store_mb(*x, v)`, which
    /// the interpreter follows with [`FenceKind::Mb`].
    Once,
    /// `smp_store_release(x, v)`, `atomic_set_release(x, v)`.
    Release,
    /// `rcu_assign_pointer(*p, v)`: a release store in LKMM.
    RcuAssign,
}

/// The ordering of an atomic read-modify-write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RmwOrder {
    /// Fully ordered (no suffix: `xchg`, `atomic_add_return`, `cmpxchg`): `smp_mb()` on both
    /// sides when it writes. A failed `cmpxchg`/`atomic_add_unless` is only a `READ_ONCE`.
    Mb,
    /// `_relaxed`.
    Relaxed,
    /// `_acquire`: the read is an acquire.
    Acquire,
    /// `_release`: the write is a release.
    Release,
    /// A value-less atomic (`atomic_inc`, `atomic_add`): unordered (LKMM's `noreturn`); only
    /// `smp_mb__before_atomic`/`smp_mb__after_atomic` order it.
    NoReturn,
}

/// An atomic read-modify-write with its operands; [`Machine::rmw`] returns the old value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RmwOp {
    /// Write the value.
    Xchg(u64),
    /// Write `new` if the old value is `expected`; otherwise no write.
    Cmpxchg {
        /// The value that must be there.
        expected: u64,
        /// The value written.
        new: u64,
    },
    /// `old + v`.
    Add(u64),
    /// `old - v`.
    Sub(u64),
    /// `old & v`.
    And(u64),
    /// `old | v`.
    Or(u64),
    /// `old ^ v`.
    Xor(u64),
    /// `old & !v`.
    AndNot(u64),
    /// Write `old + add` unless the old value is `unless`; otherwise no write.
    AddUnless {
        /// Added.
        add: u64,
        /// The value that prevents it.
        unless: u64,
    },
}

impl RmwOp {
    /// The value written when `old` is read, or `None` when the operation does not write (a
    /// failed `cmpxchg` or `atomic_add_unless`).
    pub fn apply(self, old: u64) -> Option<u64> {
        match self {
            RmwOp::Xchg(v) => Some(v),
            RmwOp::Cmpxchg { expected, new } => (old == expected).then_some(new),
            RmwOp::Add(v) => Some(old.wrapping_add(v)),
            RmwOp::Sub(v) => Some(old.wrapping_sub(v)),
            RmwOp::And(v) => Some(old & v),
            RmwOp::Or(v) => Some(old | v),
            RmwOp::Xor(v) => Some(old ^ v),
            RmwOp::AndNot(v) => Some(old & !v),
            RmwOp::AddUnless { add, unless } => (old != unless).then_some(old.wrapping_add(add)),
        }
    }
}

/// Fences and fence-like annotations (LKMM's `__fence{...}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FenceKind {
    /// `smp_mb()`.
    Mb,
    /// `smp_rmb()`.
    Rmb,
    /// `smp_wmb()`.
    Wmb,
    /// `barrier()`: a compiler barrier only.
    Barrier,
    /// `smp_mb__before_atomic()`: full fence if the next RMW is a value-less atomic.
    BeforeAtomic,
    /// `smp_mb__after_atomic()`: full fence after the previous RMW (also a failed `cmpxchg`).
    AfterAtomic,
    /// `smp_mb__after_spinlock()`.
    AfterSpinlock,
    /// `smp_mb__after_unlock_lock()`.
    AfterUnlockLock,
    /// `smp_mb__after_srcu_read_unlock()`.
    AfterSrcuReadUnlock,
}

/// What a process needs from the engine. Each method is one event of the process, in program
/// order; the engine may block (a lock, a grace period) or switch CPUs inside any of them.
///
/// Addresses are the engine's: the interpreter only gets them from [`Machine::addr_of`] (a
/// parameter's name, `&x`) or from loaded values, and adds integers to them for the
/// fake-dependency idiom `r8 = b + (r9 - r9)` (unscaled: tests only ever add 0).
pub trait Machine {
    /// The address of shared location `var` (a name from [`Program::shared`]).
    fn addr_of(&mut self, var: &str) -> u64;
    /// Reads the word at `addr`.
    fn load(&mut self, addr: u64, kind: LoadKind) -> u64;
    /// Writes `value` at `addr`.
    fn store(&mut self, addr: u64, kind: StoreKind, value: u64);
    /// Atomically reads the word at `addr`, writes `op.apply(old)` if that is `Some`, and returns
    /// `old`; the interpreter derives `_return`, `fetch_`, `_and_test` and `add_unless` results.
    fn rmw(&mut self, addr: u64, op: RmwOp, order: RmwOrder) -> u64;
    /// A fence.
    fn fence(&mut self, kind: FenceKind);
    /// `spin_lock(l)`: blocks until the lock is free.
    fn spin_lock(&mut self, lock: u64);
    /// `spin_unlock(l)`.
    fn spin_unlock(&mut self, lock: u64);
    /// The acquiring load of a `spin_lock(l)` split in two ([`Prim::SpinLockLoad`]): blocks
    /// until the lock is free. By default the whole `spin_lock`.
    fn spin_lock_load(&mut self, lock: u64) {
        self.spin_lock(lock)
    }
    /// The store of a split `spin_lock(l)` that marks it held ([`Prim::SpinLockStore`]). By
    /// default nothing: [`Machine::spin_lock_load`] took the lock.
    fn spin_lock_store(&mut self, lock: u64) {
        let _ = lock;
    }
    /// `spin_trylock(l)`: takes the lock if free.
    fn spin_trylock(&mut self, lock: u64) -> bool;
    /// `spin_is_locked(l)`.
    fn spin_is_locked(&mut self, lock: u64) -> bool;
    /// `rcu_read_lock()`.
    fn rcu_read_lock(&mut self);
    /// `rcu_read_unlock()`.
    fn rcu_read_unlock(&mut self);
    /// `synchronize_rcu()` (and `synchronize_rcu_expedited()`).
    fn synchronize_rcu(&mut self);
    /// `srcu_read_lock(s)`: returns the index to pass to the unlock.
    fn srcu_read_lock(&mut self, srcu: u64) -> u64;
    /// `srcu_read_unlock(s, idx)`.
    fn srcu_read_unlock(&mut self, srcu: u64, idx: u64);
    /// `synchronize_srcu(s)` (and `synchronize_srcu_expedited(s)`).
    fn synchronize_srcu(&mut self, srcu: u64);
    /// The address of the access that follows was computed from a loaded value (`dep`), or not:
    /// an address dependency in LKMM's sense. Called before every access to shared memory.
    fn address_dependent(&mut self, dep: bool) {
        let _ = dep;
    }
    /// The value of the store that follows was computed from these loads (a data dependency):
    /// bit `i` is the process's `i`-th [`Machine::load`] or [`Machine::rmw`], counted from 0;
    /// bit 63 stands for every one from the 63rd on. Called before every store.
    fn data_dependent(&mut self, loads: u64) {
        let _ = loads;
    }
    /// This execution is not one of the test's (a guarded reordering failed its guard): its
    /// final state is not counted.
    fn discard(&mut self) {}
    /// The process's next store, to `addr`, is made before accesses that precede it in the test
    /// (`Some`, a guarded variant's [`Instr::Hoisted`]), or that store's window closes (`None`,
    /// at its guard): in between, the process's loads of `addr` must read a store older than it.
    fn hoist(&mut self, addr: Option<u64>) {
        let _ = addr;
    }
    /// The plain store of `value` at `addr` the process just made, after its hoisted store,
    /// precedes that store in the test with `smp_wmb()` between: LKMM bounds it by the hoisted
    /// store (`w-post-bounded`), so a process that loads `addr` after the hoisted store was made
    /// must read this value, or the execution is not counted.
    fn bound_plain(&mut self, addr: u64, value: u64) {
        let _ = (addr, value);
    }
    /// The store that follows is a plain store to the location of the process's hoisted store,
    /// made in its window: it precedes the hoisted store in coherence order, is overwritten by
    /// it at once, and must be checked for races but not made visible.
    fn hide_next_store(&mut self) {}
    /// `srcu_down_read(s)`: like [`Machine::srcu_read_lock`], but the matching
    /// [`Machine::srcu_up_read`] may run on another process.
    fn srcu_down_read(&mut self, srcu: u64) -> u64 {
        self.srcu_read_lock(srcu)
    }
    /// `srcu_up_read(s, idx)`.
    fn srcu_up_read(&mut self, srcu: u64, idx: u64) {
        self.srcu_read_unlock(srcu, idx)
    }
}

/// The registers of a process at its end, by name, every register the process declares or
/// assigns (0 when never written).
pub type Registers = Vec<(String, u64)>;

/// A primitive operation of a process body, resolved from its C name by [`check()`](super::check()).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prim {
    /// A load; argument: address.
    Load(LoadKind),
    /// A store; arguments: address, value. Value 0.
    Store(StoreKind),
    /// `smp_store_mb(*x, v)`: `WRITE_ONCE` then `smp_mb()`; arguments: address, value.
    StoreMb,
    /// A fence; no arguments.
    Fence(FenceKind),
    /// An atomic RMW; arguments: address, then the operands of `kind` (one, or two for
    /// `Cmpxchg` and `AddUnless`).
    Rmw {
        /// Which operation.
        kind: RmwKind,
        /// Its ordering.
        order: RmwOrder,
        /// What the call returns.
        ret: RmwRet,
    },
    /// `spin_lock(l)`.
    SpinLock,
    /// `spin_unlock(l)`.
    SpinUnlock,
    /// The acquiring load of a `spin_lock(l)` whose store a variant makes later
    /// ([`super::reorder`]); never written in a test.
    SpinLockLoad,
    /// That `spin_lock(l)`'s store, which marks the lock held.
    SpinLockStore,
    /// `spin_trylock(l)`: 1 if taken.
    SpinTrylock,
    /// `spin_is_locked(l)`: 1 if held.
    SpinIsLocked,
    /// `rcu_read_lock()`.
    RcuReadLock,
    /// `rcu_read_unlock()`.
    RcuReadUnlock,
    /// `synchronize_rcu()`.
    SynchronizeRcu,
    /// `srcu_read_lock(s)`.
    SrcuReadLock,
    /// `srcu_read_unlock(s, idx)`.
    SrcuReadUnlock,
    /// `srcu_down_read(s)`.
    SrcuDownRead,
    /// `srcu_up_read(s, idx)`.
    SrcuUpRead,
    /// `synchronize_srcu(s)`.
    SynchronizeSrcu,
}

/// The operation of an atomic RMW, before its operands are evaluated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RmwKind {
    /// [`RmwOp::Xchg`].
    Xchg,
    /// [`RmwOp::Cmpxchg`].
    Cmpxchg,
    /// [`RmwOp::Add`].
    Add,
    /// [`RmwOp::Sub`].
    Sub,
    /// [`RmwOp::And`].
    And,
    /// [`RmwOp::Or`].
    Or,
    /// [`RmwOp::Xor`].
    Xor,
    /// [`RmwOp::AndNot`].
    AndNot,
    /// [`RmwOp::AddUnless`].
    AddUnless,
}

/// What an atomic RMW call evaluates to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RmwRet {
    /// The old value (`xchg`, `cmpxchg`, `atomic_fetch_*`).
    Old,
    /// The new value (`atomic_*_return`).
    New,
    /// 1 if the new value is 0 (`atomic_*_and_test`).
    NewIsZero,
    /// 1 if the new value is negative (`atomic_add_negative`).
    NewIsNegative,
    /// 1 if it wrote (`atomic_add_unless`, `atomic_inc_not_zero`).
    Wrote,
    /// Nothing (value-less atomics such as `atomic_inc`); evaluates to 0.
    Void,
}

/// An expression of a checked process body.
#[derive(Clone, Debug, PartialEq)]
pub enum IExpr {
    /// A constant.
    Const(u64),
    /// A register, by index into [`Proc::regs`].
    Reg(usize),
    /// The address of a shared location.
    AddrOf(String),
    /// A unary operation.
    Unary(UnOp, Box<IExpr>),
    /// A binary operation; `&&` and `||` short-circuit.
    Binary(BinOp, Box<IExpr>, Box<IExpr>),
    /// `c ? a : b`; only the chosen side is evaluated.
    Ternary(Box<IExpr>, Box<IExpr>, Box<IExpr>),
    /// A primitive; its arguments are evaluated left to right first.
    Prim {
        /// Source line.
        line: usize,
        /// The operation.
        prim: Prim,
        /// Its arguments.
        args: Vec<IExpr>,
    },
}

impl IExpr {
    /// Calls `f` on each primitive the expression may perform, with its arguments, in the order
    /// they would run (arguments first; both sides of `?:`, `&&` and `||`), until `f` returns
    /// true; returns whether it did.
    pub fn any_prim(&self, f: &mut impl FnMut(Prim, &[IExpr]) -> bool) -> bool {
        match self {
            IExpr::Const(_) | IExpr::Reg(_) | IExpr::AddrOf(_) => false,
            IExpr::Unary(_, a) => a.any_prim(f),
            IExpr::Binary(_, a, b) => a.any_prim(f) || b.any_prim(f),
            IExpr::Ternary(c, a, b) => c.any_prim(f) || a.any_prim(f) || b.any_prim(f),
            IExpr::Prim { prim, args, .. } => args.iter().any(|a| a.any_prim(f)) || f(*prim, args),
        }
    }
}

impl Proc {
    /// Runs the whole body against `m`, in program order, and returns the final registers.
    pub fn run<M: Machine + ?Sized>(&self, m: &mut M) -> Registers {
        self.regs.iter().cloned().zip(self.run_values(m)).collect()
    }

    /// [`Proc::run`], returning the final register values in the order of [`Proc::regs`].
    pub fn run_values<M: Machine + ?Sized>(&self, m: &mut M) -> Vec<u64> {
        let mut regs = Regs {
            vals: vec![0u64; self.regs.len()],
            loaded: vec![0; self.regs.len()],
            loads: 0,
            ordered_store: false,
            under_load: 0,
            hoisted: None,
        };
        for (r, v) in &self.reg_init {
            let value = match v {
                super::ast::InitValue::Int(i) => *i as u64,
                super::ast::InitValue::AddrOf(x) => m.addr_of(x),
            };
            if let Some(slot) = regs.vals.get_mut(*r) {
                *slot = value;
            }
        }
        exec(&self.body, &mut regs, m);
        if regs.hoisted.is_some() {
            // The store was made early and its place never reached.
            m.hoist(None);
            m.discard();
        }
        regs.vals
    }
}

impl Program {
    /// Runs process `index` against `m`; `None` if there is no such process.
    pub fn run_process<M: Machine + ?Sized>(&self, index: usize, m: &mut M) -> Option<Registers> {
        self.procs.get(index).map(|p| p.run(m))
    }
}

/// Register values, and which loaded values each was computed from (so that an address computed
/// from it is an address dependency, and a value stored a data dependency).
struct Regs {
    vals: Vec<u64>,
    /// Per register, a set of loads ([`Machine::data_dependent`]'s bits); empty: none.
    loaded: Vec<u64>,
    /// The process's loads and RMWs so far.
    loads: u32,
    /// A store has been made, which `smp_wmb()` orders before the stores after it. LKMM orders
    /// only marked ones and plain ones at an address computed from a loaded value (`addr ;
    /// [Plain] ; wmb`). Taking also the plain ones outside an `if` on a loaded value is
    /// stronger than LKMM: it leaves out the out-of-thin-air outcomes LKMM allows through an
    /// unconditional plain store and `smp_wmb()`, which the authors of `C-JO-OOTA-5` and `-6`
    /// call forbidden, and keeps those of a plain store in such an `if`, which the authors of
    /// `C-AS-OOTA-1` and `C-wmb-race2` call allowed.
    ordered_store: bool,
    /// How many `if`s on loaded values the process is inside.
    under_load: u32,
    /// A store made early ([`Instr::Hoisted`]) whose [`Instr::Guard`] is still to come.
    hoisted: Option<Hoisted>,
}

/// What the guard of a hoisted store checks.
struct Hoisted {
    addr: u64,
    value: u64,
    /// The registers its value reads (index below 64); a register past 63 fails the guard.
    regs: u64,
    /// Nothing since the store was made orders it after that event (see [`window`]).
    unordered: bool,
    /// The plain stores (address, value) made since, not yet followed by an `smp_wmb()`.
    plain: Vec<(u64, u64)>,
    /// A plain store to `addr` was made since, hidden.
    hidden: bool,
    /// Loads of `addr` were made early with the store (an `if` moved whole): they too must
    /// be left unordered by what runs in between ([`window`]).
    with_loads: bool,
}

/// The registers `e` reads, or `None` if it does anything else than read registers and
/// constants and take addresses.
fn reads_regs(e: &IExpr) -> Option<u64> {
    match e {
        IExpr::Const(_) | IExpr::AddrOf(_) => Some(0),
        IExpr::Reg(r) => (*r < 64).then(|| 1 << r),
        IExpr::Unary(_, a) => reads_regs(a),
        IExpr::Binary(_, a, b) => Some(reads_regs(a)? | reads_regs(b)?),
        IExpr::Ternary(c, a, b) => Some(reads_regs(c)? | reads_regs(a)? | reads_regs(b)?),
        IExpr::Prim { .. } => None,
    }
}

/// Whether an event between a hoisted store's new and old places leaves the two unordered in
/// LKMM, so that performing the store first is an execution of the test: an access to another
/// location, plain or `READ_ONCE`/`WRITE_ONCE` (no `ppo` edge from a load to a later
/// independent store, nor between stores without a fence), `smp_rmb()` (loads only),
/// `barrier()`, and `smp_wmb()` when no store it would order before the hoisted one has been made
/// yet. Not a fence, acquire, release, RMW, lock, RCU or SRCU call, nor a marked access to the
/// store's own location. A plain access to it is: LKMM's `ppo` orders the store after it
/// (`fr & int`, `co & int`), but `hb` links marked accesses only, so nothing before the plain
/// access is ordered before the store through it. A plain load of it reads a store older than
/// the hoisted one ([`Machine::hoist`]), as coherence requires (`C-non-race1`); a plain store to
/// it comes before the hoisted one in coherence order, which overwrites it at once, so the
/// machine keeps it out of memory and only checks it for races ([`Machine::hide_next_store`],
/// `C-non-race1-rwdep`). (arm64 orders a plain load before a later store to its location,
/// `lws`: here the variants leave what arm64 does for what LKMM allows.)
fn window(prim: Prim, addr: u64, h: &Hoisted, ordered_store: bool) -> bool {
    if h.with_loads {
        // The loads made early are ordered after an `smp_rmb()` and would read the CPU's own
        // access to their location; a load moves over other loads and any store elsewhere.
        return match prim {
            Prim::Load(LoadKind::Plain | LoadKind::Once | LoadKind::RcuDeref)
            | Prim::Store(StoreKind::Plain | StoreKind::Once) => addr != h.addr,
            Prim::Fence(FenceKind::Barrier) => true,
            Prim::Fence(FenceKind::Wmb) => !ordered_store,
            _ => false,
        };
    }
    match prim {
        // After a plain store of the location (hidden: [`Machine::hide_next_store`]), a load
        // of it would have to read that store, which memory does not hold.
        Prim::Load(LoadKind::Plain) => !h.hidden || addr != h.addr,
        Prim::Store(StoreKind::Plain) => true,
        Prim::Load(LoadKind::Once | LoadKind::RcuDeref) | Prim::Store(StoreKind::Once) => addr != h.addr,
        Prim::Fence(FenceKind::Rmb | FenceKind::Barrier) => true,
        Prim::Fence(FenceKind::Wmb) => !ordered_store,
        _ => false,
    }
}

/// The set holding only the `n`-th load (the 63rd and later share bit 63).
pub(super) fn load_bit(n: usize) -> u64 {
    1 << n.min(63)
}

/// The registers a store's operands read, if they read nothing else (and take only addresses
/// of named locations): what a hoisted store may be made from.
pub(super) fn operand_regs(args: &[IExpr]) -> Option<u64> {
    args.iter().try_fold(0, |acc, a| Some(acc | reads_regs(a)?))
}

/// A store's address and value.
fn operands<M: Machine + ?Sized>(args: &[IExpr], regs: &mut Regs, m: &mut M) -> (u64, u64) {
    let addr = args.first().map_or(0, |a| eval(a, regs, m).0);
    let value = args.get(1).map_or(0, |a| eval(a, regs, m).0);
    (addr, value)
}

fn exec<M: Machine + ?Sized>(body: &[Instr], regs: &mut Regs, m: &mut M) {
    for instr in body {
        match instr {
            Instr::SetReg { reg, value, .. } => {
                if let Some(h) = &mut regs.hoisted {
                    if *reg >= 64 || h.regs & (1 << reg) != 0 {
                        h.unordered = false;
                    }
                }
                let (v, loaded) = eval(value, regs, m);
                if let (Some(slot), Some(l)) = (regs.vals.get_mut(*reg), regs.loaded.get_mut(*reg)) {
                    *slot = v;
                    *l = loaded;
                }
            }
            Instr::Eval { expr, .. } => {
                eval(expr, regs, m);
            }
            Instr::If { cond, then, els, .. } => {
                let (c, loaded) = eval(cond, regs, m);
                let depth = u32::from(loaded != 0);
                regs.under_load += depth;
                exec(if c != 0 { then } else { els }, regs, m);
                regs.under_load -= depth;
            }
            Instr::Hoisted { store, under, .. } => {
                let IExpr::Prim { args, .. } = store else {
                    continue;
                };
                let mut regs_read = operand_regs(args);
                if let Some(u) = under {
                    // The `if` moved whole: where its condition fails here the store is not made
                    // early, and the executions where it is made in place are the test's own.
                    if eval(&u.cond, regs, m).0 == 0 {
                        m.discard();
                        continue;
                    }
                    regs_read = regs_read.and_then(|r| Some(r | reads_regs(&u.cond)?));
                    exec(&u.loads, regs, m);
                }
                let before = regs.ordered_store;
                let (addr, value) = operands(args, regs, m);
                m.hoist(Some(addr));
                eval(store, regs, m);
                // In the test this store comes after the wmbs in between.
                regs.ordered_store = before;
                regs.hoisted = Some(Hoisted {
                    addr,
                    value,
                    regs: regs_read.unwrap_or(0),
                    unordered: regs_read.is_some(),
                    plain: Vec::new(),
                    hidden: false,
                    with_loads: under.is_some(),
                });
            }
            Instr::Guard { store, .. } => {
                let Some(h) = regs.hoisted.take() else {
                    // Its store was not made early (its `if` failed there).
                    m.discard();
                    continue;
                };
                m.hoist(None);
                let IExpr::Prim { args, .. } = store else {
                    continue;
                };
                if !h.unordered || operands(args, regs, m) != (h.addr, h.value) {
                    m.discard();
                }
            }
        }
    }
}

/// A value, and the loads it was computed from.
fn eval<M: Machine + ?Sized>(e: &IExpr, regs: &mut Regs, m: &mut M) -> (u64, u64) {
    match e {
        IExpr::Const(v) => (*v, 0),
        IExpr::Reg(r) => (
            regs.vals.get(*r).copied().unwrap_or(0),
            regs.loaded.get(*r).copied().unwrap_or(0),
        ),
        IExpr::AddrOf(x) => (m.addr_of(x), 0),
        IExpr::Unary(op, a) => {
            let (a, l) = eval(a, regs, m);
            let v = match op {
                UnOp::Neg => a.wrapping_neg(),
                UnOp::Not => u64::from(a == 0),
                UnOp::BitNot => !a,
            };
            (v, l)
        }
        IExpr::Binary(BinOp::And, a, b) => {
            let (a, la) = eval(a, regs, m);
            if a == 0 {
                return (0, la);
            }
            let (b, lb) = eval(b, regs, m);
            (u64::from(b != 0), la | lb)
        }
        IExpr::Binary(BinOp::Or, a, b) => {
            let (a, la) = eval(a, regs, m);
            if a != 0 {
                return (1, la);
            }
            let (b, lb) = eval(b, regs, m);
            (u64::from(b != 0), la | lb)
        }
        IExpr::Binary(op, a, b) => {
            // `b + (r - r)` still depends on `r`: herd7 keeps fake dependencies, so does this.
            let (a, la) = eval(a, regs, m);
            let (b, lb) = eval(b, regs, m);
            (binop(*op, a, b), la | lb)
        }
        IExpr::Ternary(c, a, b) => {
            let (c, lc) = eval(c, regs, m);
            let (v, l) = if c != 0 {
                eval(a, regs, m)
            } else {
                eval(b, regs, m)
            };
            (v, l | lc)
        }
        IExpr::Prim { prim, args, .. } => {
            let mut vals = [0u64; 3];
            let mut deps = [0u64; 3];
            for ((slot, dep), a) in vals.iter_mut().zip(&mut deps).zip(args) {
                (*slot, *dep) = eval(a, regs, m);
            }
            if let Some(h) = &mut regs.hoisted {
                h.unordered &= window(*prim, vals[0], h, regs.ordered_store);
                match prim {
                    Prim::Store(StoreKind::Plain) if vals[0] == h.addr => {
                        h.hidden = true;
                        m.hide_next_store();
                    }
                    Prim::Store(StoreKind::Plain) => h.plain.push((vals[0], vals[1])),
                    // In the test, the plain stores before this `smp_wmb()` precede the
                    // hoisted store, bounded by it.
                    Prim::Fence(FenceKind::Wmb) if h.unordered => {
                        for (addr, value) in h.plain.drain(..) {
                            m.bound_plain(addr, value);
                        }
                    }
                    _ => {}
                }
            }
            match prim {
                Prim::Store(StoreKind::Plain) => {
                    regs.ordered_store |= deps[0] != 0 || regs.under_load == 0;
                }
                Prim::Store(_) | Prim::StoreMb | Prim::Rmw { .. } => regs.ordered_store = true,
                _ => {}
            }
            if prim.accesses_memory() {
                m.address_dependent(deps[0] != 0);
            }
            if matches!(prim, Prim::Store(_) | Prim::StoreMb) {
                m.data_dependent(deps[1]);
            }
            let v = prim_call(*prim, vals, m);
            // What a load or an RMW returns was read from memory.
            if prim.returns_loaded() {
                regs.loads += 1;
                (v, load_bit(regs.loads as usize - 1))
            } else {
                (v, 0)
            }
        }
    }
}

impl Prim {
    /// Whether its first argument is the address of a word it reads or writes.
    fn accesses_memory(self) -> bool {
        matches!(
            self,
            Prim::Load(_) | Prim::Store(_) | Prim::StoreMb | Prim::Rmw { .. }
        )
    }

    /// Whether its result is a value read from memory.
    fn returns_loaded(self) -> bool {
        matches!(self, Prim::Load(_) | Prim::Rmw { .. })
    }
}

/// C arithmetic on 64-bit words: wrapping, comparisons signed (registers are `int`), and no
/// trap on division by zero (which a litmus test never means).
fn binop(op: BinOp, a: u64, b: u64) -> u64 {
    let (sa, sb) = (a as i64, b as i64);
    match op {
        BinOp::Mul => a.wrapping_mul(b),
        BinOp::Div => sa.checked_div(sb).unwrap_or(0) as u64,
        BinOp::Rem => sa.checked_rem(sb).unwrap_or(0) as u64,
        BinOp::Add => a.wrapping_add(b),
        BinOp::Sub => a.wrapping_sub(b),
        BinOp::Shl => a.wrapping_shl(b as u32),
        BinOp::Shr => sa.wrapping_shr(b as u32) as u64,
        BinOp::Lt => u64::from(sa < sb),
        BinOp::Le => u64::from(sa <= sb),
        BinOp::Gt => u64::from(sa > sb),
        BinOp::Ge => u64::from(sa >= sb),
        BinOp::Eq => u64::from(a == b),
        BinOp::Ne => u64::from(a != b),
        BinOp::BitAnd => a & b,
        BinOp::BitXor => a ^ b,
        BinOp::BitOr => a | b,
        BinOp::And => u64::from(a != 0 && b != 0),
        BinOp::Or => u64::from(a != 0 || b != 0),
    }
}

fn prim_call<M: Machine + ?Sized>(prim: Prim, [a, b, c]: [u64; 3], m: &mut M) -> u64 {
    match prim {
        Prim::Load(k) => m.load(a, k),
        Prim::Store(k) => {
            m.store(a, k, b);
            0
        }
        Prim::StoreMb => {
            m.store(a, StoreKind::Once, b);
            m.fence(FenceKind::Mb);
            0
        }
        Prim::Fence(k) => {
            m.fence(k);
            0
        }
        Prim::Rmw { kind, order, ret } => {
            let op = match kind {
                RmwKind::Xchg => RmwOp::Xchg(b),
                RmwKind::Cmpxchg => RmwOp::Cmpxchg { expected: b, new: c },
                RmwKind::Add => RmwOp::Add(b),
                RmwKind::Sub => RmwOp::Sub(b),
                RmwKind::And => RmwOp::And(b),
                RmwKind::Or => RmwOp::Or(b),
                RmwKind::Xor => RmwOp::Xor(b),
                RmwKind::AndNot => RmwOp::AndNot(b),
                RmwKind::AddUnless => RmwOp::AddUnless { add: b, unless: c },
            };
            let old = m.rmw(a, op, order);
            let new = op.apply(old);
            match ret {
                RmwRet::Old => old,
                RmwRet::New => new.unwrap_or(old),
                RmwRet::NewIsZero => u64::from(new.unwrap_or(old) == 0),
                RmwRet::NewIsNegative => u64::from((new.unwrap_or(old) as i64) < 0),
                RmwRet::Wrote => u64::from(new.is_some()),
                RmwRet::Void => 0,
            }
        }
        Prim::SpinLock => {
            m.spin_lock(a);
            0
        }
        Prim::SpinUnlock => {
            m.spin_unlock(a);
            0
        }
        Prim::SpinLockLoad => {
            m.spin_lock_load(a);
            0
        }
        Prim::SpinLockStore => {
            m.spin_lock_store(a);
            0
        }
        Prim::SpinTrylock => u64::from(m.spin_trylock(a)),
        Prim::SpinIsLocked => u64::from(m.spin_is_locked(a)),
        Prim::RcuReadLock => {
            m.rcu_read_lock();
            0
        }
        Prim::RcuReadUnlock => {
            m.rcu_read_unlock();
            0
        }
        Prim::SynchronizeRcu => {
            m.synchronize_rcu();
            0
        }
        Prim::SrcuReadLock => m.srcu_read_lock(a),
        Prim::SrcuReadUnlock => {
            m.srcu_read_unlock(a, b);
            0
        }
        Prim::SrcuDownRead => m.srcu_down_read(a),
        Prim::SrcuUpRead => {
            m.srcu_up_read(a, b);
            0
        }
        Prim::SynchronizeSrcu => {
            m.synchronize_srcu(a);
            0
        }
    }
}
