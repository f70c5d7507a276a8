//! The reorderings of a process that LKMM allows and the promise-free machine cannot produce.
//!
//! The machine (`docs/memory-model.md`) performs each CPU's stores in program order, at the end of
//! memory: a load can read an older value, but a store never becomes visible before an earlier
//! access of its CPU. LKMM allows that whenever nothing orders the two (its `ppo` has no edge
//! between them): load buffering (`LB`), a store overtaking an earlier store (`S`, `2+2W`, message
//! passing without `smp_wmb`). Promising-ARM gets these from promises; kgrace gets them by running
//! each variant of the test in which one `WRITE_ONCE` per process is moved earlier, over accesses
//! it is not ordered after:
//!
//! * the store is a top-level `WRITE_ONCE(*x, v)` of a constant `v` to a location named by a
//!   parameter (no data or address dependency), not inside an `if` (no control dependency);
//! * it moves over `READ_ONCE`/`rcu_dereference` loads and `WRITE_ONCE` stores of other locations
//!   (not the same one: coherence), over `smp_rmb()` (which orders loads only), over register
//!   assignments that read no memory, and over an `if` on registers whose branches hold only
//!   such statements and access other locations (the control dependency orders the branches'
//!   stores, not the store after the `if`), and over nothing else: no other fence, acquire,
//!   release, RMW, lock, RCU or SRCU call, plain access or `if`.
//!
//! Every such pair is outside LKMM's `ppo` and no fence lies between them, so an execution of the
//! variant is an execution of the original that LKMM allows too: a variant adds outcomes the
//! machine missed and never one LKMM forbids. (The suite test checks the second half: no outcome
//! herd7 forbids is observed.)
//!
//! Whether a store is ordered after an `if` often depends on the branch taken (`C-LB2`: a plain
//! store in the branch, then `smp_wmb()`; `crypto-control-data`: a register the branch would
//! change). For those, a *guarded* variant makes the store early ([`Instr::Hoisted`]: a
//! top-level `WRITE_ONCE(*x, v)` whose operands read only registers) and leaves a guard at its
//! place ([`Instr::Guard`]); the interpreter watches what the CPU does in between, and the
//! execution counts only if, at the guard, the store has the same value and nothing in between
//! ordered it: no register it reads assigned, no marked access to its location (a plain load of
//! it reads an older store, `C-non-race1`; a plain store to it is overwritten by it at once,
//! `C-non-race1-rwdep`), nothing but plain and
//! `READ_ONCE`/`WRITE_ONCE` accesses, `smp_rmb()`, `barrier()`, and `smp_wmb()` before any store
//! of the CPU it orders. (LKMM's `smp_wmb()` orders marked stores and plain ones at a loaded
//! address; kgrace also counts the plain ones outside an `if` on a loaded value, which is
//! stronger, and keeps out the out-of-thin-air outcomes of `C-JO-OOTA-5`/`-6` that LKMM allows
//! and their authors call forbidden, while `C-AS-OOTA-1` and `C-wmb-race2`, a plain store in
//! such an `if`, stay allowed as their authors say; a plain store such an `smp_wmb()` bounds
//! must then be seen by the other CPUs' loads, or the execution does not count.) The race
//! detector judges the order the variant ran in; its races are reported unless the move hides
//! a bound LKMM gives the test ([`Move::hides_a_bound`]).
//!
//! Two more shapes move in a guarded or static variant:
//!
//! * **An `if` moved whole** (`C-viro-2020.09.29a`): `if (c) { r = READ_ONCE(*x); ...;
//!   WRITE_ONCE(*x, v); }` with no `else`, `c` and `v` reading registers only. Where `c`
//!   holds at the new place, the loads and the store are made there; the guard asks that no
//!   register `c` or `v` reads was assigned in between. The loads move too, so nothing in
//!   between may order them either: no `smp_rmb()`, no use of the registers they set, no
//!   access of the CPU to `x`. An `if` in between, even one holding a lock, is judged by the
//!   branch it takes. (herd7's control dependency reaches the statements of the `if`'s
//!   branches, not those after it: a register the untaken branch would have changed is no
//!   dependency.)
//! * **The store of a `spin_lock()` made later** (`MP+polockonce+poacquiresilsil`): LKMM orders
//!   a lock's store (`LKW`) after nothing that follows it but the unlock's release and fences.
//!   For a lock no other process takes, a variant leaves the acquiring load in place and makes
//!   the store after the statements a `WRITE_ONCE` could move over ([`Move::lock_store`]);
//!   another CPU polling `spin_is_locked()` may then see the section's stores, then the lock
//!   free. With no other CPU storing to the lock, nothing can come between its load and its
//!   store: the lock stays atomic, which `tests/litmus_run.rs` checks with two CPUs that do
//!   take it.
//!
//! Tests that need more (two stores of one process moved, a store moved out of an `if` whose
//! branches store alike, the store of a lock other CPUs also take) remain beyond the machine.

use super::check::{Instr, Program, Under};
use super::interp::{operand_regs, FenceKind, IExpr, LoadKind, Prim, StoreKind};

/// What a top-level statement is to a store being moved over it.
enum Class<'a> {
    /// A marked load of a named location.
    Load(&'a str),
    /// A `WRITE_ONCE` to a named location; `movable` when its value is a constant.
    Store { loc: &'a str, movable: bool },
    /// What a store may move over whatever its location: `smp_rmb()` (it orders loads only), or a
    /// register assignment that reads no memory.
    NoLocation,
    /// An `if` on registers alone whose branches hold only marked loads and stores of named
    /// locations, `smp_rmb()` and register assignments: a store after it may move over it unless
    /// the branches access the store's location. (LKMM's control dependency orders the loads
    /// before the stores *inside* the branches, not the stores after the `if`.)
    If(Vec<&'a str>),
    /// Anything else: nothing moves over it.
    Barrier,
}

/// Whether a `WRITE_ONCE` to `loc` may trade places with the statement `i` in a static move:
/// nothing in LKMM orders the two.
fn crossable(i: &Instr, loc: &str) -> bool {
    match class(i) {
        Class::Load(l) | Class::Store { loc: l, .. } => l != loc,
        Class::NoLocation => true,
        Class::If(ls) => !ls.contains(&loc),
        Class::Barrier => false,
    }
}

/// Whether `e` reads only registers and constants (no memory access, no primitive).
fn pure(e: &IExpr) -> bool {
    match e {
        IExpr::Const(_) | IExpr::Reg(_) => true,
        IExpr::Unary(_, a) => pure(a),
        IExpr::Binary(_, a, b) => pure(a) && pure(b),
        IExpr::Ternary(c, a, b) => pure(c) && pure(a) && pure(b),
        IExpr::AddrOf(_) | IExpr::Prim { .. } => false,
    }
}

/// The locations the statements access, if each is one a store may move over.
fn simple_block<'a>(body: &'a [Instr], locs: &mut Vec<&'a str>) -> bool {
    body.iter().all(|i| match class(i) {
        Class::Load(l) | Class::Store { loc: l, .. } => {
            locs.push(l);
            true
        }
        Class::NoLocation => true,
        Class::If(ls) => {
            locs.extend(ls);
            true
        }
        Class::Barrier => false,
    })
}

fn constant(e: &IExpr) -> bool {
    match e {
        IExpr::Const(_) => true,
        IExpr::Unary(_, a) => constant(a),
        IExpr::Binary(_, a, b) => constant(a) && constant(b),
        _ => false,
    }
}

fn class(i: &Instr) -> Class<'_> {
    match i {
        Instr::SetReg {
            value:
                IExpr::Prim {
                    prim: Prim::Load(LoadKind::Once | LoadKind::RcuDeref),
                    args,
                    ..
                },
            ..
        } => match args.first() {
            Some(IExpr::AddrOf(x)) => Class::Load(x),
            _ => Class::Barrier,
        },
        Instr::Eval {
            expr:
                IExpr::Prim {
                    prim: Prim::Store(StoreKind::Once),
                    args,
                    ..
                },
            ..
        } => match (args.first(), args.get(1)) {
            (Some(IExpr::AddrOf(x)), Some(v)) => Class::Store {
                loc: x,
                movable: constant(v),
            },
            _ => Class::Barrier,
        },
        Instr::Eval {
            expr:
                IExpr::Prim {
                    prim: Prim::Fence(FenceKind::Rmb),
                    ..
                },
            ..
        } => Class::NoLocation,
        Instr::SetReg { value, .. } if pure(value) => Class::NoLocation,
        Instr::If { cond, then, els, .. } if pure(cond) => {
            let mut locs = Vec::new();
            if simple_block(then, &mut locs) && simple_block(els, &mut locs) {
                Class::If(locs)
            } else {
                Class::Barrier
            }
        }
        _ => Class::Barrier,
    }
}

/// A reordered body: the statement at `from` moved to `to` (`to < from`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Move {
    /// The process.
    pub proc: usize,
    /// Index of the store in the body.
    pub from: usize,
    /// Where it goes.
    pub to: usize,
    /// The store is made at `to` and checked at `from` ([`Instr::Hoisted`], [`Instr::Guard`]):
    /// the execution counts only if what ran between leaves the two unordered.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub guarded: bool,
    /// The statement at `from` is a `spin_lock(l)` whose store is made later: its acquiring
    /// load stays at `from` and its store goes just before the statement at `to` (`to > from`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub lock_store: bool,
}

impl Move {
    /// Whether the race detector, judging the order this move's variant runs in, may miss
    /// an ordering LKMM gives the test: a plain store followed by an `smp_wmb()` the store moved
    /// over is bounded by the store in LKMM (`w-post-bounded` is `fence? ; [Marked]`), but in
    /// the variant no fence lies between them. (Nothing else the store may move over bounds an
    /// access by it: `r-post-bounded` needs a stronger fence, or `smp_rmb()` before a load.)
    /// `false` for a static move: it crosses no fence but `smp_rmb()`.
    pub fn hides_a_bound(&self, p: &Program) -> bool {
        fn scan(body: &[Instr], plain_store: &mut bool) -> bool {
            body.iter().any(|i| match i {
                Instr::If { cond, then, els, .. } => {
                    expr(cond, plain_store) || {
                        // Either branch may run: a plain store in one and a wmb after the `if`.
                        let mut other = *plain_store;
                        let found = scan(then, plain_store) || scan(els, &mut other);
                        *plain_store |= other;
                        found
                    }
                }
                Instr::SetReg { value: e, .. }
                | Instr::Eval { expr: e, .. }
                | Instr::Hoisted { store: e, .. }
                | Instr::Guard { store: e, .. } => expr(e, plain_store),
            })
        }
        fn expr(e: &IExpr, plain_store: &mut bool) -> bool {
            e.any_prim(&mut |prim, _| match prim {
                Prim::Store(StoreKind::Plain) => {
                    *plain_store = true;
                    false
                }
                Prim::Fence(FenceKind::Wmb) => *plain_store,
                _ => false,
            })
        }
        let Some(body) = p.procs.get(self.proc).map(|pr| &pr.body) else {
            return false;
        };
        if !self.guarded || self.to > self.from || self.from > body.len() {
            return false;
        }
        // A plain store before the store's new place, then an `smp_wmb()` it moved over.
        let mut plain_store = false;
        scan(&body[..self.to], &mut plain_store);
        scan(&body[self.to..self.from], &mut plain_store)
    }

    /// Makes the move in `body`; `false` if it does not fit.
    fn make(&self, body: &mut Vec<Instr>) -> bool {
        if self.lock_store {
            return self.split_lock(body);
        }
        if self.from >= body.len() || self.to >= self.from {
            return false;
        }
        if !self.guarded {
            let s = body.remove(self.from);
            body.insert(self.to, s);
            return true;
        }
        let (line, store, under) = match &body[self.from] {
            Instr::Eval { line, expr } => (*line, expr.clone(), None),
            // An `if` moved whole ([`store_block`]).
            Instr::If { line, cond, then, .. } => match then.split_last() {
                Some((Instr::Eval { expr, .. }, loads)) => (
                    *line,
                    expr.clone(),
                    Some(Box::new(Under {
                        cond: cond.clone(),
                        loads: loads.to_vec(),
                    })),
                ),
                _ => return false,
            },
            _ => return false,
        };
        body[self.from] = Instr::Guard {
            line,
            store: store.clone(),
        };
        body.insert(self.to, Instr::Hoisted { line, store, under });
        true
    }

    /// Splits the `spin_lock` at `from` and puts its store before the statement at `to`.
    fn split_lock(&self, body: &mut Vec<Instr>) -> bool {
        if self.from >= self.to || self.to > body.len() {
            return false;
        }
        let Instr::Eval {
            line,
            expr:
                IExpr::Prim {
                    prim: prim @ Prim::SpinLock,
                    args,
                    ..
                },
        } = &mut body[self.from]
        else {
            return false;
        };
        *prim = Prim::SpinLockLoad;
        let store = Instr::Eval {
            line: *line,
            expr: IExpr::Prim {
                line: *line,
                prim: Prim::SpinLockStore,
                args: args.clone(),
            },
        };
        body.insert(self.to, store);
        true
    }
}

/// The locks that one process alone takes, releases or writes (other processes may only load
/// the word or ask `spin_is_locked()`); none when a write or lock operation goes through a
/// computed address, which could be the lock's.
fn sole_locks(p: &Program) -> Vec<String> {
    let mut users: Vec<(String, usize)> = Vec::new();
    let mut computed = false;
    for (k, proc) in p.procs.iter().enumerate() {
        for i in &proc.body {
            i.any_prim(&mut |prim, args| {
                let writes = matches!(
                    prim,
                    Prim::Store(_)
                        | Prim::StoreMb
                        | Prim::Rmw { .. }
                        | Prim::SpinLock
                        | Prim::SpinUnlock
                        | Prim::SpinTrylock
                        | Prim::SpinLockLoad
                        | Prim::SpinLockStore
                );
                if writes {
                    match args.first() {
                        Some(IExpr::AddrOf(l)) => users.push((l.clone(), k)),
                        _ => computed = true,
                    }
                }
                false
            });
        }
    }
    if computed {
        return Vec::new();
    }
    let mut out: Vec<String> = Vec::new();
    for (l, k) in &users {
        if !out.contains(l) && users.iter().all(|(m, j)| m != l || j == k) {
            out.push(l.clone());
        }
    }
    out
}

/// The moves of the store of each top-level `spin_lock(l)` of a lock only this process takes:
/// to just after each of the statements that follow it that a `WRITE_ONCE` to `l` could move
/// over (marked accesses of other locations, `smp_rmb()`, register assignments, an `if` of
/// those). The lock's acquiring load stays in place, so the critical section stays ordered after
/// it; LKMM orders the lock's store (`LKW`) after nothing of the section (`MP+polockonce+
/// poacquiresilsil`: another CPU sees a store of the section, then the lock free). With no other
/// CPU taking the lock, no store to it can come between the load and the store: the split keeps
/// the lock atomic.
fn lock_store_moves(proc: usize, body: &[Instr], sole: &[String], out: &mut Vec<Move>) {
    for (j, s) in body.iter().enumerate() {
        let Instr::Eval {
            expr:
                IExpr::Prim {
                    prim: Prim::SpinLock,
                    args,
                    ..
                },
            ..
        } = s
        else {
            continue;
        };
        let Some(IExpr::AddrOf(l)) = args.first() else {
            continue;
        };
        if !sole.contains(l) {
            continue;
        }
        for (k, _) in body
            .iter()
            .enumerate()
            .skip(j + 1)
            .take_while(|(_, next)| crossable(next, l))
        {
            out.push(Move {
                proc,
                from: j,
                to: k + 1,
                guarded: false,
                lock_store: true,
            });
        }
    }
}

/// How a witness names its variant: statements are numbered from 1 in the process's body.
impl std::fmt::Display for Move {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.lock_store {
            return write!(
                f,
                "P{}'s spin_lock() at statement {} marking the lock held after its statement {}",
                self.proc,
                self.from + 1,
                self.to
            );
        }
        write!(
            f,
            "P{}'s statement {} before its statement {}",
            self.proc,
            self.from + 1,
            self.to + 1
        )?;
        if self.guarded {
            f.write_str(" (guarded: nothing between ordered it in this execution)")?;
        }
        Ok(())
    }
}

/// What a top-level statement is to a guarded move of a store over it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Guarded {
    /// It always orders the store after it (a fence other than `smp_rmb`/`smp_wmb`, an
    /// acquire, release, RMW, lock, RCU or SRCU call, an access to the store's location, an
    /// assignment to a register the store reads): the move stops before it.
    Stop,
    /// Whether it does depends on the execution (an `if`, a plain access, `smp_wmb()`): a
    /// guarded move may start just after it.
    Dynamic,
    /// It never does.
    Never,
}

/// Whether `e` performs an event that orders a later store to `loc` whatever the execution: a
/// primitive other than plain and once accesses, `smp_rmb()`, `smp_wmb()` and `barrier()`, or
/// a marked access to `loc` named as such. (A plain access to `loc`, or an access through an
/// address computed from it, is checked as the variant runs: [`super::interp`]'s window.)
fn orders(e: &IExpr, loc: &str) -> bool {
    e.any_prim(&mut |prim, args| {
        let allowed = matches!(
            prim,
            Prim::Load(LoadKind::Plain | LoadKind::Once | LoadKind::RcuDeref)
                | Prim::Store(StoreKind::Plain | StoreKind::Once)
                | Prim::Fence(FenceKind::Rmb | FenceKind::Wmb | FenceKind::Barrier)
        );
        let own = !matches!(prim, Prim::Load(LoadKind::Plain) | Prim::Store(StoreKind::Plain))
            && matches!(args.first(), Some(IExpr::AddrOf(x)) if x == loc);
        !allowed || own
    })
}

fn guarded_class(i: &Instr, loc: &str, regs: u64) -> Guarded {
    let plain_or_wmb = |e: &IExpr| {
        matches!(
            e,
            IExpr::Prim {
                prim: Prim::Load(LoadKind::Plain)
                    | Prim::Store(StoreKind::Plain)
                    | Prim::Fence(FenceKind::Wmb),
                ..
            }
        )
    };
    match i {
        Instr::SetReg { reg, .. } if *reg >= 64 || regs & (1 << reg) != 0 => Guarded::Stop,
        Instr::SetReg { value: e, .. } | Instr::Eval { expr: e, .. } => {
            if orders(e, loc) {
                Guarded::Stop
            } else if plain_or_wmb(e)
                || !matches!(class(i), Class::Load(_) | Class::Store { .. } | Class::NoLocation)
            {
                Guarded::Dynamic
            } else {
                Guarded::Never
            }
        }
        // An `if` whose branches would order the store when taken is left alone: a variant per
        // such `if` (the branch not taken) multiplies the variants of lock-heavy tests past the
        // bound for no outcome the suite needs.
        Instr::If { .. } if !branch_ok(i, loc) => Guarded::Stop,
        _ => Guarded::Dynamic,
    }
}

/// An `if (c) { r = READ_ONCE(*x); ...; WRITE_ONCE(*x, v); }` with no `else`, whose condition
/// and stored value read registers only (no load's result among them): a guarded variant may
/// move it whole, making its loads and its store early where `c` holds. Its location, the
/// registers the condition and the store read, and those its loads assign.
fn store_block(i: &Instr) -> Option<(&str, u64, u64)> {
    let Instr::If { cond, then, els, .. } = i else {
        return None;
    };
    let (
        Instr::Eval {
            expr:
                IExpr::Prim {
                    prim: Prim::Store(StoreKind::Once),
                    args,
                    ..
                },
            ..
        },
        loads,
    ) = then.split_last()?
    else {
        return None;
    };
    let Some(IExpr::AddrOf(loc)) = args.first() else {
        return None;
    };
    if !els.is_empty() {
        return None;
    }
    let read = operand_regs(args)? | operand_regs(std::slice::from_ref(cond))?;
    let mut assigned = 0u64;
    for l in loads {
        let Instr::SetReg {
            reg,
            value:
                IExpr::Prim {
                    prim: Prim::Load(LoadKind::Once),
                    args: at,
                    ..
                },
            ..
        } = l
        else {
            return None;
        };
        if *reg >= 64 || !matches!(at.as_slice(), [IExpr::AddrOf(x)] if x == loc) {
            return None;
        }
        assigned |= 1 << reg;
    }
    (read & assigned == 0).then_some((loc.as_str(), read, assigned))
}

/// Whether `i` reads or assigns one of `regs` (bit `r`: register `r`; past 63: always).
fn mentions(i: &Instr, regs: u64) -> bool {
    fn expr(e: &IExpr, regs: u64) -> bool {
        match e {
            IExpr::Const(_) | IExpr::AddrOf(_) => false,
            IExpr::Reg(r) => *r >= 64 || regs & (1 << r) != 0,
            IExpr::Unary(_, a) => expr(a, regs),
            IExpr::Binary(_, a, b) => expr(a, regs) || expr(b, regs),
            IExpr::Ternary(c, a, b) => expr(c, regs) || expr(a, regs) || expr(b, regs),
            IExpr::Prim { args, .. } => args.iter().any(|a| expr(a, regs)),
        }
    }
    match i {
        Instr::SetReg { reg, value, .. } => *reg >= 64 || regs & (1 << reg) != 0 || expr(value, regs),
        Instr::Eval { expr: e, .. } | Instr::Guard { store: e, .. } => expr(e, regs),
        Instr::Hoisted { .. } => true,
        Instr::If { cond, then, els, .. } => {
            expr(cond, regs) || then.iter().chain(els).any(|i| mentions(i, regs))
        }
    }
}

/// [`guarded_class`] for an `if` moved whole ([`store_block`]): its loads move too, so an
/// `smp_rmb()` and any use of the registers they assign stop it. An `if` between is checked as
/// it runs (a branch taken that orders the store or the loads fails the guard), even one with
/// a lock: such moves are few.
fn block_class(i: &Instr, loc: &str, regs: u64, assigned: u64) -> Guarded {
    let rmb = matches!(
        i,
        Instr::Eval {
            expr: IExpr::Prim {
                prim: Prim::Fence(FenceKind::Rmb),
                ..
            },
            ..
        }
    );
    if rmb || mentions(i, assigned) {
        return Guarded::Stop;
    }
    match i {
        Instr::If { cond, .. } if !orders(cond, loc) => Guarded::Dynamic,
        _ => guarded_class(i, loc, regs),
    }
}

/// Whether a statement inside an `if` (or the `if` itself) leaves a later store unordered
/// whenever its value and the `smp_wmb()` rule allow (checked as it runs).
fn branch_ok(i: &Instr, loc: &str) -> bool {
    match i {
        Instr::SetReg { value: e, .. } | Instr::Eval { expr: e, .. } => !orders(e, loc),
        Instr::If { cond, then, els, .. } => {
            !orders(cond, loc) && then.iter().chain(els).all(|i| branch_ok(i, loc))
        }
        Instr::Hoisted { .. } | Instr::Guard { .. } => false,
    }
}

/// The guarded moves of the store at `j` beyond `static_to` (where its plain moves end): to
/// just after each statement whose effect on the order depends on the execution, and to the
/// farthest place, as far back as no statement always orders it.
fn guarded_moves(proc: usize, body: &[Instr], j: usize, static_to: usize, out: &mut Vec<Move>) {
    let (loc, regs, block) = match &body[j] {
        Instr::Eval {
            expr:
                IExpr::Prim {
                    prim: Prim::Store(StoreKind::Once),
                    args,
                    ..
                },
            ..
        } => {
            let Some(IExpr::AddrOf(loc)) = args.first() else {
                return;
            };
            let Some(regs) = operand_regs(args) else {
                return;
            };
            (loc.as_str(), regs, None)
        }
        i => match store_block(i) {
            Some((loc, regs, assigned)) => (loc, regs, Some(assigned)),
            None => return,
        },
    };
    let mut farthest = None;
    let mut i = static_to;
    while i > 0 {
        let class = match block {
            Some(assigned) => block_class(&body[i - 1], loc, regs, assigned),
            None => guarded_class(&body[i - 1], loc, regs),
        };
        match class {
            Guarded::Stop => break,
            Guarded::Dynamic => {
                // Just after it, unless that is where the plain moves end (or the store's own
                // place); the farthest place is added below.
                if i < static_to {
                    out.push(Move {
                        proc,
                        from: j,
                        to: i,
                        guarded: true,
                        lock_store: false,
                    });
                }
                farthest = Some(i - 1);
            }
            Guarded::Never => farthest = Some(i - 1),
        }
        i -= 1;
    }
    if let Some(to) = farthest {
        out.push(Move {
            proc,
            from: j,
            to,
            guarded: true,
            lock_store: false,
        });
    }
}

/// The single-store moves a process body allows.
fn moves(proc: usize, body: &[Instr], sole: &[String]) -> Vec<Move> {
    let mut out = Vec::new();
    for (j, s) in body.iter().enumerate() {
        let static_to = static_moves(proc, body, j, s, &mut out);
        guarded_moves(proc, body, j, static_to, &mut out);
    }
    lock_store_moves(proc, body, sole, &mut out);
    out
}

/// The plain moves of the statement `s` at `j`; returns the farthest place (`j`: none).
fn static_moves(proc: usize, body: &[Instr], j: usize, s: &Instr, out: &mut Vec<Move>) -> usize {
    let Class::Store { loc, movable: true } = class(s) else {
        return j;
    };
    let mut i = j;
    while i > 0 && crossable(&body[i - 1], loc) {
        i -= 1;
        out.push(Move {
            proc,
            from: j,
            to: i,
            guarded: false,
            lock_store: false,
        });
    }
    i
}

/// `p` with `moves` made; a move that does not fit the program is ignored.
pub fn apply(p: &Program, moves: &[Move]) -> Program {
    let mut q = p.clone();
    for m in moves {
        if let Some(body) = q.procs.get_mut(m.proc).map(|pr| &mut pr.body) {
            m.make(body);
        }
    }
    q
}

/// The variants of `p`: `p` itself first, then every combination of at most one move per
/// process, up to `max` programs in all; the flag says whether all of them fit.
pub fn variants(p: &Program, max: usize) -> (Vec<(Program, Vec<Move>)>, bool) {
    let sole = sole_locks(p);
    let per_proc: Vec<Vec<Option<Move>>> = p
        .procs
        .iter()
        .enumerate()
        .map(|(i, proc)| {
            let mut v = vec![None];
            v.extend(moves(i, &proc.body, &sole).into_iter().map(Some));
            v
        })
        .collect();
    let total: usize = per_proc.iter().map(Vec::len).product();
    let mut out = Vec::new();
    let mut idx = vec![0usize; per_proc.len()];
    'outer: loop {
        if out.len() >= max {
            break;
        }
        let chosen: Vec<Move> = idx
            .iter()
            .enumerate()
            .filter_map(|(i, &k)| per_proc[i][k])
            .collect();
        let q = apply(p, &chosen);
        out.push((q, chosen));
        // Next combination (odometer).
        for i in (0..idx.len()).rev() {
            idx[i] += 1;
            if idx[i] < per_proc[i].len() {
                continue 'outer;
            }
            idx[i] = 0;
        }
        break;
    }
    let complete = out.len() == total;
    (out, complete)
}
