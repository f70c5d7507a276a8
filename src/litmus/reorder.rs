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
//! herd7 forbids is observed.) Tests that need more (two stores of one process moved, a store
//! moved out of an `if` whose branches store alike) remain beyond the machine.

use super::check::{Instr, Program};
use super::interp::{FenceKind, IExpr, LoadKind, Prim, StoreKind};

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
}

/// The single-store moves a process body allows.
fn moves(proc: usize, body: &[Instr]) -> Vec<Move> {
    let mut out = Vec::new();
    for (j, s) in body.iter().enumerate() {
        let Class::Store { loc, movable: true } = class(s) else {
            continue;
        };
        let mut i = j;
        while i > 0 {
            let over = match class(&body[i - 1]) {
                Class::Load(l) | Class::Store { loc: l, .. } => l != loc,
                Class::NoLocation => true,
                Class::If(ls) => !ls.contains(&loc),
                Class::Barrier => false,
            };
            if !over {
                break;
            }
            i -= 1;
            out.push(Move { proc, from: j, to: i });
        }
    }
    out
}

/// `p` with `moves` made; a move that does not fit the program is ignored.
pub fn apply(p: &Program, moves: &[Move]) -> Program {
    let mut q = p.clone();
    for m in moves {
        if let Some(body) = q.procs.get_mut(m.proc).map(|pr| &mut pr.body) {
            if m.from < body.len() && m.to < m.from {
                let s = body.remove(m.from);
                body.insert(m.to, s);
            }
        }
    }
    q
}

/// The variants of `p`: `p` itself first, then every combination of at most one move per
/// process, up to `max` programs in all; the flag says whether all of them fit.
pub fn variants(p: &Program, max: usize) -> (Vec<(Program, Vec<Move>)>, bool) {
    let per_proc: Vec<Vec<Option<Move>>> = p
        .procs
        .iter()
        .enumerate()
        .map(|(i, proc)| {
            let mut v = vec![None];
            v.extend(moves(i, &proc.body).into_iter().map(Some));
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
        let mut q = p.clone();
        for m in &chosen {
            let body = &mut q.procs[m.proc].body;
            let s = body.remove(m.from);
            body.insert(m.to, s);
        }
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
