//! The check pass: resolves a parsed [`Test`] into a [`Program`] the interpreter runs, or says
//! which construct is not supported.
//!
//! It resolves every name (register, or parameter standing for a shared location), every call
//! (to an LKMM primitive with the right number of arguments, in LKMM's argument order), checks
//! the process numbering and the names in the final clauses, and collects the shared locations
//! to allocate. After it, running a process cannot fail.

use super::ast::*;
use super::interp::{FenceKind, IExpr, LoadKind, Prim, RmwKind, RmwOrder, RmwRet, StoreKind};
use super::parse::ParseError;

/// What kind of object a shared location is, from its declared type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LocKind {
    /// A word: `int`, `intptr_t`, any pointer. Holds an integer or an address.
    Word,
    /// An `atomic_t`: a word accessed with `atomic_*` operations.
    Atomic,
    /// A `spinlock_t`, unlocked at the start.
    Spinlock,
    /// A `struct srcu_struct`.
    Srcu,
}

impl LocKind {
    fn of(ty: &CType) -> LocKind {
        if ty.pointers > 0 {
            return LocKind::Word;
        }
        match ty.base.as_str() {
            "spinlock_t" | "raw_spinlock_t" => LocKind::Spinlock,
            "struct srcu_struct" => LocKind::Srcu,
            "atomic_t" | "atomic_long_t" => LocKind::Atomic,
            _ => LocKind::Word,
        }
    }
}

/// A shared location the engine must allocate before the processes run.
#[derive(Clone, Debug, PartialEq)]
pub struct SharedVar {
    /// Its name (as in parameters and conditions).
    pub name: String,
    /// The declared type of the location itself, when some declaration or parameter gives one.
    pub ty: Option<CType>,
    /// What it is.
    pub kind: LocKind,
    /// Its initial value: an integer (0 when not initialized) or the address of another
    /// location of [`Program::shared`].
    pub init: InitValue,
}

/// A checked statement.
#[derive(Clone, Debug, PartialEq)]
pub enum Instr {
    /// `reg = value`.
    SetReg {
        /// Source line.
        line: usize,
        /// Index into [`Proc::regs`].
        reg: usize,
        /// The value.
        value: IExpr,
    },
    /// An expression evaluated for its effects (stores, fences, locks are primitives).
    Eval {
        /// Source line.
        line: usize,
        /// The expression.
        expr: IExpr,
    },
    /// `if`.
    If {
        /// Source line.
        line: usize,
        /// Nonzero takes `then`.
        cond: IExpr,
        /// Then branch.
        then: Vec<Instr>,
        /// Else branch.
        els: Vec<Instr>,
    },
    /// A `WRITE_ONCE(*x, v)` performed before its place, in a guarded variant
    /// ([`super::reorder`]): `store` is the store's expression, whose operands read only
    /// registers. The [`Instr::Guard`] at its place says whether the execution counts.
    Hoisted {
        /// Source line.
        line: usize,
        /// The store.
        store: IExpr,
        /// The `if` the store ends, when the variant moved that whole `if` (its condition and
        /// the loads of the store's location before the store in it); `None` for a top-level
        /// store.
        under: Option<Box<Under>>,
    },
    /// Where a hoisted store was: the execution is one of the test's only if the store would
    /// have been made here with the same value and nothing between ordered it.
    Guard {
        /// Source line.
        line: usize,
        /// The store.
        store: IExpr,
    },
}

/// A checked process.
#[derive(Clone, Debug, PartialEq)]
pub struct Proc {
    /// `n` of `Pn`.
    pub index: usize,
    /// Its registers, declared or assigned, in order of first appearance.
    pub regs: Vec<String>,
    /// Initial register values from the initial-state block (`0:r1=x;`), by register index.
    pub reg_init: Vec<(usize, InitValue)>,
    /// The body.
    pub body: Vec<Instr>,
}

/// A checked litmus test, ready to run.
#[derive(Clone, Debug, PartialEq)]
pub struct Program {
    /// The test as parsed.
    pub test: Test,
    /// The shared locations to allocate, in order of first appearance (initial state,
    /// parameters, conditions); an initial value that is an address names one of them.
    pub shared: Vec<SharedVar>,
    /// The processes, indexed by their number.
    pub procs: Vec<Proc>,
}

/// An `if (cond) { r = READ_ONCE(*x); ...; WRITE_ONCE(*x, v); }` moved whole by a guarded
/// variant: what runs, at the `if`'s new place, before its store ([`Instr::Hoisted`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Under {
    /// The condition: the store is made early only where it holds there.
    pub cond: IExpr,
    /// The loads before the store, made early too.
    pub loads: Vec<Instr>,
}

impl Instr {
    /// [`IExpr::any_prim`] over the statement: an `if`'s condition, then both branches.
    pub fn any_prim(&self, f: &mut impl FnMut(Prim, &[IExpr]) -> bool) -> bool {
        match self {
            Instr::Hoisted {
                store,
                under: Some(u),
                ..
            } => u.cond.any_prim(f) || u.loads.iter().any(|i| i.any_prim(f)) || store.any_prim(f),
            Instr::SetReg { value: e, .. }
            | Instr::Eval { expr: e, .. }
            | Instr::Hoisted { store: e, .. }
            | Instr::Guard { store: e, .. } => e.any_prim(f),
            Instr::If { cond, then, els, .. } => {
                cond.any_prim(f) || then.iter().chain(els).any(|i| i.any_prim(f))
            }
        }
    }
}

impl Program {
    /// The shared location called `name`.
    pub fn shared_var(&self, name: &str) -> Option<&SharedVar> {
        self.shared.iter().find(|v| v.name == name)
    }

    /// The locations herd7 would show in a final state: those of the `locations` clause, the
    /// filter and the final condition (including registers compared with registers), without
    /// duplicates, in order of appearance. A final state handed to
    /// [`judge`](super::cond::judge) must give a value to each.
    pub fn observed_locations(&self) -> Vec<Loc> {
        let mut out: Vec<Loc> = Vec::new();
        let mut add = |l: Loc| {
            if !out.contains(&l) {
                out.push(l);
            }
        };
        for l in &self.test.locations {
            add(l.clone());
        }
        for c in self
            .test
            .filter
            .iter()
            .chain(self.test.fin.as_ref().map(|f| &f.cond))
        {
            c.visit_atoms(&mut |lhs, rhs| {
                add(lhs.clone());
                if let CondRhs::Reg { proc, reg } = rhs {
                    add(Loc::Reg {
                        proc: *proc,
                        reg: reg.clone(),
                    });
                }
            });
        }
        out
    }

    /// Whether some process makes a plain (unmarked) access. LKMM flags a data race only
    /// between two accesses of which one is plain, so a test without one can never be flagged.
    pub fn plain_accesses(&self) -> bool {
        let plain = &mut |prim, _: &[IExpr]| {
            matches!(prim, Prim::Load(LoadKind::Plain) | Prim::Store(StoreKind::Plain))
        };
        self.procs
            .iter()
            .any(|p| p.body.iter().any(|i| i.any_prim(plain)))
    }
}

impl Cond {
    /// Calls `f` on every atom's two sides.
    pub fn visit_atoms<'a>(&'a self, f: &mut dyn FnMut(&'a Loc, &'a CondRhs)) {
        match self {
            Cond::Const(_) => {}
            Cond::Atom { lhs, rhs, .. } => f(lhs, rhs),
            Cond::Not(c) => c.visit_atoms(f),
            Cond::And(a, b) | Cond::Or(a, b) => {
                a.visit_atoms(f);
                b.visit_atoms(f);
            }
        }
    }
}

/// Parses and checks a litmus test.
pub fn load(src: &str) -> Result<Program, ParseError> {
    check(super::parse::parse(src)?)
}

/// Checks a parsed test and resolves it into a [`Program`]. Errors use [`ParseError`], since a
/// user sees both the same way; unsupported constructs start with `unsupported: `.
pub fn check(test: Test) -> Result<Program, ParseError> {
    // Processes must be P0..Pn-1, each once, in order: herd7 numbers registers by them.
    for (i, p) in test.procs.iter().enumerate() {
        if p.index != i {
            return Err(err(
                p.line,
                format!("expected process `P{i}`, found `P{}`", p.index),
            ));
        }
    }
    let mut shared = SharedSet::default();
    let mut reg_inits: Vec<(usize, usize, String, InitValue)> = Vec::new();
    for e in &test.init {
        match &e.target {
            InitTarget::Var(x) => shared.declare(x, e.ty.clone(), e.value.clone()),
            InitTarget::Reg { proc, reg } => {
                let v = e.value.clone().unwrap_or(InitValue::Int(0));
                reg_inits.push((e.line, *proc, reg.clone(), v));
            }
        }
    }
    for p in &test.procs {
        let mut seen = Vec::new();
        for param in &p.params {
            if seen.contains(&&param.name) {
                return Err(err(
                    p.line,
                    format!("parameter `{}` appears twice in P{}", param.name, p.index),
                ));
            }
            seen.push(&param.name);
            if param.ty.pointers == 0 {
                return Err(err(
                    p.line,
                    format!("unsupported: parameter `{} {}` is not a pointer (parameters point to shared locations)", param.ty, param.name),
                ));
            }
            shared.mention(&param.name, Some(param.ty.pointee()));
        }
    }
    // Addresses in initial values name locations too (`l1 = l2;` allocates `l2`).
    let targets: Vec<String> = shared
        .vars
        .iter()
        .filter_map(|v| match &v.init {
            InitValue::AddrOf(t) => Some(t.clone()),
            InitValue::Int(_) => None,
        })
        .chain(reg_inits.iter().filter_map(|(_, _, _, v)| match v {
            InitValue::AddrOf(t) => Some(t.clone()),
            InitValue::Int(_) => None,
        }))
        .collect();
    for t in targets {
        shared.mention(&t, None);
    }

    let mut procs = Vec::new();
    for p in &test.procs {
        procs.push(lower_proc(p)?);
    }
    for (line, proc, reg, v) in reg_inits {
        let Some(p) = procs.get_mut(proc) else {
            return Err(err(
                line,
                format!("initial state names register `{proc}:{reg}` of a process that does not exist"),
            ));
        };
        let r = match p.regs.iter().position(|x| *x == reg) {
            Some(r) => r,
            None => {
                p.regs.push(reg);
                p.regs.len() - 1
            }
        };
        p.reg_init.push((r, v));
    }

    // Names in the final clauses. A register its process never mentions is still a register
    // of herd7's state, holding its initial 0 (`C-srcu-nest-6` lists one in `locations`), so it
    // is added; a process that does not exist is an error. A location named nowhere else is an
    // int starting at 0, as in herd7.
    let mut problem = None;
    let line = test.fin.as_ref().map_or(0, |f| f.line);
    let conds = test.fin.iter().map(|f| &f.cond).chain(test.filter.iter());
    let location_atoms: Vec<Cond> = test
        .locations
        .iter()
        .map(|l| Cond::Atom {
            lhs: l.clone(),
            rhs: CondRhs::Int(0),
            negated: false,
        })
        .collect();
    for c in conds.chain(location_atoms.iter()) {
        c.visit_atoms(&mut |lhs, rhs| {
            let mut reg = |proc: usize, reg: &str| match procs.get_mut(proc) {
                Some(p) => {
                    if !p.regs.iter().any(|r| r == reg) {
                        p.regs.push(reg.to_string());
                    }
                }
                None => {
                    problem.get_or_insert_with(|| {
                        err(
                            line,
                            format!("`{proc}:{reg}` names process P{proc}, which does not exist"),
                        )
                    });
                }
            };
            match lhs {
                Loc::Reg { proc, reg: r } => reg(*proc, r),
                Loc::Var(x) => shared.mention(x, None),
            }
            match rhs {
                CondRhs::Reg { proc, reg: r } => reg(*proc, r),
                CondRhs::Addr(x) => shared.mention(x, None),
                CondRhs::Int(_) => {}
            }
        });
    }
    if let Some(e) = problem {
        return Err(e);
    }
    Ok(Program {
        test,
        shared: shared.finish(),
        procs,
    })
}

fn err(line: usize, message: impl Into<String>) -> ParseError {
    ParseError {
        line,
        message: message.into(),
    }
}

#[derive(Default)]
struct SharedSet {
    vars: Vec<SharedVar>,
}

impl SharedSet {
    /// An initial-state entry: its type and value win over what parameters say.
    fn declare(&mut self, name: &str, ty: Option<CType>, value: Option<InitValue>) {
        let init = value.unwrap_or(InitValue::Int(0));
        if let Some(v) = self.vars.iter_mut().find(|v| v.name == name) {
            if ty.is_some() {
                v.ty = ty;
            }
            v.init = init;
        } else {
            self.vars.push(SharedVar {
                name: name.to_string(),
                ty,
                kind: LocKind::Word,
                init,
            });
        }
    }

    /// A use of a location: allocates it (0) if new, and fills in its type if none is known.
    fn mention(&mut self, name: &str, ty: Option<CType>) {
        if let Some(v) = self.vars.iter_mut().find(|v| v.name == name) {
            if v.ty.is_none() {
                v.ty = ty;
            }
        } else {
            self.vars.push(SharedVar {
                name: name.to_string(),
                ty,
                kind: LocKind::Word,
                init: InitValue::Int(0),
            });
        }
    }

    fn finish(mut self) -> Vec<SharedVar> {
        for v in &mut self.vars {
            v.kind = v.ty.as_ref().map_or(LocKind::Word, LocKind::of);
        }
        self.vars
    }
}

/// Lowering of one process: the names in scope and the registers found so far.
struct Lower<'a> {
    proc: &'a Process,
    regs: Vec<String>,
}

fn lower_proc(p: &Process) -> Result<Proc, ParseError> {
    let mut l = Lower {
        proc: p,
        regs: Vec::new(),
    };
    // Registers are function-wide: declarations in nested blocks and undeclared registers
    // (generated tests assign `r0` without declaring it) all name one register per process.
    collect_regs(&p.body, &mut l)?;
    let body = l.stmts(&p.body)?;
    Ok(Proc {
        index: p.index,
        regs: l.regs,
        reg_init: Vec::new(),
        body,
    })
}

fn collect_regs(body: &[Stmt], l: &mut Lower<'_>) -> Result<(), ParseError> {
    for s in body {
        match s {
            Stmt::Decl { line, name, .. } => {
                if l.is_param(name) {
                    return Err(err(
                        *line,
                        format!("local `{name}` shadows the parameter of the same name"),
                    ));
                }
                l.add_reg(name);
            }
            Stmt::Assign {
                lhs: Expr::Var(name), ..
            } if !l.is_param(name) => l.add_reg(name),
            Stmt::If { then, els, .. } => {
                collect_regs(then, l)?;
                collect_regs(els, l)?;
            }
            Stmt::Block(b) => collect_regs(b, l)?,
            _ => {}
        }
    }
    Ok(())
}

impl Lower<'_> {
    fn is_param(&self, name: &str) -> bool {
        self.proc.params.iter().any(|p| p.name == name)
    }

    fn add_reg(&mut self, name: &str) {
        if !self.regs.iter().any(|r| r == name) {
            self.regs.push(name.to_string());
        }
    }

    fn reg(&self, name: &str) -> Option<usize> {
        self.regs.iter().position(|r| r == name)
    }

    fn stmts(&self, body: &[Stmt]) -> Result<Vec<Instr>, ParseError> {
        let mut out = Vec::new();
        for s in body {
            self.stmt(s, &mut out)?;
        }
        Ok(out)
    }

    fn stmt(&self, s: &Stmt, out: &mut Vec<Instr>) -> Result<(), ParseError> {
        match s {
            Stmt::Decl { line, name, init, .. } => {
                if let Some(e) = init {
                    let value = self.expr(e, *line)?;
                    out.push(Instr::SetReg {
                        line: *line,
                        reg: self.reg(name).unwrap_or(0),
                        value,
                    });
                }
            }
            Stmt::Assign { line, lhs, rhs } => {
                let value = self.expr(rhs, *line)?;
                match lhs {
                    Expr::Var(name) => match self.reg(name) {
                        Some(reg) if !self.is_param(name) => out.push(Instr::SetReg { line: *line, reg, value }),
                        _ => {
                            return Err(err(
                                *line,
                                format!("unsupported: assignment to parameter `{name}` (write `*{name} = ...` to store to the location)"),
                            ))
                        }
                    },
                    Expr::Deref(addr) => {
                        let addr = self.expr(addr, *line)?;
                        out.push(Instr::Eval {
                            line: *line,
                            expr: IExpr::Prim { line: *line, prim: Prim::Store(StoreKind::Plain), args: vec![addr, value] },
                        });
                    }
                    _ => return Err(err(*line, "unsupported: assignment target other than a register or `*pointer`")),
                }
            }
            Stmt::Expr { line, expr } => out.push(Instr::Eval {
                line: *line,
                expr: self.expr(expr, *line)?,
            }),
            Stmt::If {
                line,
                cond,
                then,
                els,
            } => {
                let cond = self.expr(cond, *line)?;
                out.push(Instr::If {
                    line: *line,
                    cond,
                    then: self.stmts(then)?,
                    els: self.stmts(els)?,
                });
            }
            Stmt::Block(b) => out.extend(self.stmts(b)?),
        }
        Ok(())
    }

    fn expr(&self, e: &Expr, line: usize) -> Result<IExpr, ParseError> {
        Ok(match e {
            Expr::Int(v) => IExpr::Const(*v as u64),
            Expr::Var(name) => {
                if self.is_param(name) {
                    IExpr::AddrOf(name.clone())
                } else if let Some(r) = self.reg(name) {
                    IExpr::Reg(r)
                } else if name == "NULL" {
                    IExpr::Const(0)
                } else {
                    return Err(err(
                        line,
                        format!(
                            "`{name}` is neither a register nor a parameter of P{}",
                            self.proc.index
                        ),
                    ));
                }
            }
            Expr::Deref(a) => IExpr::Prim {
                line,
                prim: Prim::Load(LoadKind::Plain),
                args: vec![self.expr(a, line)?],
            },
            Expr::AddrOf(_) => return Err(err(
                line,
                "unsupported: `&` in a process body (a parameter `x` already is the address of location `x`)",
            )),
            Expr::Unary(op, a) => IExpr::Unary(*op, Box::new(self.expr(a, line)?)),
            Expr::Binary(op, a, b) => {
                IExpr::Binary(*op, Box::new(self.expr(a, line)?), Box::new(self.expr(b, line)?))
            }
            Expr::Cast(_, a) => self.expr(a, line)?,
            Expr::Ternary(c, a, b) => IExpr::Ternary(
                Box::new(self.expr(c, line)?),
                Box::new(self.expr(a, line)?),
                Box::new(self.expr(b, line)?),
            ),
            Expr::Call { line, name, args } => self.call(*line, name, args)?,
        })
    }

    /// The address named by the argument of a `READ_ONCE`-style macro, which takes the
    /// location itself: `READ_ONCE(*x)`, `rcu_dereference(*(intptr_t **)p)`.
    fn lvalue_addr(&self, name: &str, e: &Expr, line: usize) -> Result<IExpr, ParseError> {
        match e {
            Expr::Deref(a) => self.expr(a, line),
            Expr::Cast(_, inner) => self.lvalue_addr(name, inner, line),
            _ => Err(err(
                line,
                format!("unsupported: `{name}` of something other than `*pointer` (write `{name}(*x...)`)"),
            )),
        }
    }

    fn call(&self, line: usize, name: &str, args: &[Expr]) -> Result<IExpr, ParseError> {
        let Some(spec) = primitive(name) else {
            return Err(err(
                line,
                format!("unsupported: call to `{name}` (not an LKMM primitive)"),
            ));
        };
        let arity = spec.arity();
        if args.len() != arity {
            return Err(err(
                line,
                format!("`{name}` takes {arity} argument(s), found {}", args.len()),
            ));
        }
        let prim = |prim: Prim, args: Vec<IExpr>| IExpr::Prim { line, prim, args };
        let e = |i: usize| self.expr(&args[i], line);
        Ok(match spec {
            Spec::LvalLoad(k) => prim(Prim::Load(k), vec![self.lvalue_addr(name, &args[0], line)?]),
            Spec::LvalStore(k) => prim(
                Prim::Store(k),
                vec![self.lvalue_addr(name, &args[0], line)?, e(1)?],
            ),
            Spec::LvalStoreMb => prim(
                Prim::StoreMb,
                vec![self.lvalue_addr(name, &args[0], line)?, e(1)?],
            ),
            Spec::PtrLoad(k) => prim(Prim::Load(k), vec![e(0)?]),
            Spec::PtrStore(k) => prim(Prim::Store(k), vec![e(0)?, e(1)?]),
            Spec::Nullary(p) => prim(p, vec![]),
            Spec::Ptr(p) => prim(p, vec![e(0)?]),
            Spec::PtrVal(p) => prim(p, vec![e(0)?, e(1)?]),
            Spec::Rmw {
                kind,
                order,
                ret,
                layout,
            } => {
                let rmw = Prim::Rmw { kind, order, ret };
                match layout {
                    RmwArgs::Ptr(k) => prim(rmw, vec![e(0)?, IExpr::Const(k)]),
                    RmwArgs::PtrK2(k1, k2) => prim(rmw, vec![e(0)?, IExpr::Const(k1), IExpr::Const(k2)]),
                    RmwArgs::ValPtr => prim(rmw, vec![e(1)?, e(0)?]),
                    RmwArgs::PtrVal => prim(rmw, vec![e(0)?, e(1)?]),
                    RmwArgs::PtrValVal => prim(rmw, vec![e(0)?, e(1)?, e(2)?]),
                }
            }
        })
    }
}

/// How a primitive's C arguments map to its operation.
#[derive(Clone, Copy, Debug)]
enum Spec {
    /// `READ_ONCE(*p)`: one location argument.
    LvalLoad(LoadKind),
    /// `WRITE_ONCE(*p, v)`.
    LvalStore(StoreKind),
    /// `smp_store_mb(*p, v)`.
    LvalStoreMb,
    /// `smp_load_acquire(p)`: a pointer argument.
    PtrLoad(LoadKind),
    /// `smp_store_release(p, v)`.
    PtrStore(StoreKind),
    /// `smp_mb()`.
    Nullary(Prim),
    /// `spin_lock(l)`.
    Ptr(Prim),
    /// `srcu_read_unlock(s, idx)`.
    PtrVal(Prim),
    /// An atomic RMW.
    Rmw {
        kind: RmwKind,
        order: RmwOrder,
        ret: RmwRet,
        layout: RmwArgs,
    },
}

/// Where the pointer and operands of an RMW are among its C arguments.
#[derive(Clone, Copy, Debug)]
enum RmwArgs {
    /// `atomic_inc(p)`: the operand is a constant.
    Ptr(u64),
    /// `atomic_inc_not_zero(p)`: two constant operands.
    PtrK2(u64, u64),
    /// `atomic_add(v, p)`: the value comes first.
    ValPtr,
    /// `xchg(p, v)`.
    PtrVal,
    /// `cmpxchg(p, old, new)`, `atomic_add_unless(p, a, u)`.
    PtrValVal,
}

impl Spec {
    fn arity(self) -> usize {
        match self {
            Spec::Nullary(_) => 0,
            Spec::LvalLoad(_) | Spec::PtrLoad(_) | Spec::Ptr(_) => 1,
            Spec::LvalStore(_) | Spec::LvalStoreMb | Spec::PtrStore(_) | Spec::PtrVal(_) => 2,
            Spec::Rmw { layout, .. } => match layout {
                RmwArgs::Ptr(_) | RmwArgs::PtrK2(..) => 1,
                RmwArgs::ValPtr | RmwArgs::PtrVal => 2,
                RmwArgs::PtrValVal => 3,
            },
        }
    }
}

/// The LKMM primitives, as `tools/memory-model/linux-kernel.def` defines them.
fn primitive(name: &str) -> Option<Spec> {
    use Spec::*;
    let fence = |k| Some(Nullary(Prim::Fence(k)));
    match name {
        "READ_ONCE" => return Some(LvalLoad(LoadKind::Once)),
        "WRITE_ONCE" => return Some(LvalStore(StoreKind::Once)),
        "rcu_dereference" => return Some(LvalLoad(LoadKind::RcuDeref)),
        "rcu_assign_pointer" => return Some(LvalStore(StoreKind::RcuAssign)),
        "smp_store_mb" => return Some(LvalStoreMb),
        "smp_load_acquire" | "atomic_read_acquire" => return Some(PtrLoad(LoadKind::Acquire)),
        "smp_store_release" | "atomic_set_release" => return Some(PtrStore(StoreKind::Release)),
        "atomic_read" => return Some(PtrLoad(LoadKind::Once)),
        "atomic_set" => return Some(PtrStore(StoreKind::Once)),
        "smp_mb" => return fence(FenceKind::Mb),
        "smp_rmb" => return fence(FenceKind::Rmb),
        "smp_wmb" => return fence(FenceKind::Wmb),
        "barrier" => return fence(FenceKind::Barrier),
        "smp_mb__before_atomic" => return fence(FenceKind::BeforeAtomic),
        "smp_mb__after_atomic" => return fence(FenceKind::AfterAtomic),
        "smp_mb__after_spinlock" => return fence(FenceKind::AfterSpinlock),
        "smp_mb__after_unlock_lock" => return fence(FenceKind::AfterUnlockLock),
        "smp_mb__after_srcu_read_unlock" => return fence(FenceKind::AfterSrcuReadUnlock),
        "spin_lock" => return Some(Ptr(Prim::SpinLock)),
        "spin_unlock" => return Some(Ptr(Prim::SpinUnlock)),
        "spin_trylock" => return Some(Ptr(Prim::SpinTrylock)),
        "spin_is_locked" => return Some(Ptr(Prim::SpinIsLocked)),
        "rcu_read_lock" => return Some(Nullary(Prim::RcuReadLock)),
        "rcu_read_unlock" => return Some(Nullary(Prim::RcuReadUnlock)),
        "synchronize_rcu" | "synchronize_rcu_expedited" => return Some(Nullary(Prim::SynchronizeRcu)),
        "srcu_read_lock" => return Some(Ptr(Prim::SrcuReadLock)),
        "srcu_read_unlock" => return Some(PtrVal(Prim::SrcuReadUnlock)),
        "srcu_down_read" => return Some(Ptr(Prim::SrcuDownRead)),
        "srcu_up_read" => return Some(PtrVal(Prim::SrcuUpRead)),
        "synchronize_srcu" | "synchronize_srcu_expedited" => return Some(Ptr(Prim::SynchronizeSrcu)),
        "atomic_add_unless" => {
            return Some(Rmw {
                kind: RmwKind::AddUnless,
                order: RmwOrder::Mb,
                ret: RmwRet::Wrote,
                layout: RmwArgs::PtrValVal,
            })
        }
        // The kernel defines it as atomic_add_unless(v, 1, 0).
        "atomic_inc_not_zero" => {
            return Some(Rmw {
                kind: RmwKind::AddUnless,
                order: RmwOrder::Mb,
                ret: RmwRet::Wrote,
                layout: RmwArgs::PtrK2(1, 0),
            })
        }
        _ => {}
    }
    rmw_primitive(name)
}

/// The `xchg`/`cmpxchg`/`atomic_*` families, by their systematic names.
fn rmw_primitive(name: &str) -> Option<Spec> {
    let (stem, order) = [
        ("_relaxed", RmwOrder::Relaxed),
        ("_acquire", RmwOrder::Acquire),
        ("_release", RmwOrder::Release),
    ]
    .iter()
    .find_map(|(suffix, o)| name.strip_suffix(suffix).map(|s| (s, *o)))
    .unwrap_or((name, RmwOrder::Mb));
    let ordered = |kind, ret, layout| {
        Some(Spec::Rmw {
            kind,
            order,
            ret,
            layout,
        })
    };
    let arith = |op: &str| match op {
        "add" => Some((RmwKind::Add, None)),
        "sub" => Some((RmwKind::Sub, None)),
        "inc" => Some((RmwKind::Add, Some(1))),
        "dec" => Some((RmwKind::Sub, Some(1))),
        "and" => Some((RmwKind::And, None)),
        "or" => Some((RmwKind::Or, None)),
        "xor" => Some((RmwKind::Xor, None)),
        "andnot" => Some((RmwKind::AndNot, None)),
        _ => None,
    };
    let layout = |k: Option<u64>| k.map_or(RmwArgs::ValPtr, RmwArgs::Ptr);
    match stem {
        "xchg" | "atomic_xchg" => return ordered(RmwKind::Xchg, RmwRet::Old, RmwArgs::PtrVal),
        "cmpxchg" | "atomic_cmpxchg" => return ordered(RmwKind::Cmpxchg, RmwRet::Old, RmwArgs::PtrValVal),
        _ => {}
    }
    let rest = stem.strip_prefix("atomic_")?;
    if let Some(op) = rest.strip_prefix("fetch_") {
        let (kind, k) = arith(op)?;
        return ordered(kind, RmwRet::Old, layout(k));
    }
    if let Some(op) = rest.strip_suffix("_return") {
        let (kind, k) = arith(op)?;
        if !matches!(kind, RmwKind::Add | RmwKind::Sub) {
            return None;
        }
        return ordered(kind, RmwRet::New, layout(k));
    }
    if let Some(op) = rest.strip_suffix("_and_test") {
        let (kind, k) = arith(op)?;
        if order != RmwOrder::Mb || !matches!(kind, RmwKind::Add | RmwKind::Sub) || (op == "add") {
            return None;
        }
        return ordered(kind, RmwRet::NewIsZero, layout(k));
    }
    if rest == "add_negative" {
        return ordered(RmwKind::Add, RmwRet::NewIsNegative, RmwArgs::ValPtr);
    }
    // Value-less atomics have no ordering variants.
    if order != RmwOrder::Mb {
        return None;
    }
    let (kind, k) = arith(rest)?;
    Some(Spec::Rmw {
        kind,
        order: RmwOrder::NoReturn,
        ret: RmwRet::Void,
        layout: layout(k),
    })
}

/// The names of every primitive the check pass accepts (for documentation and tests).
pub fn primitive_names() -> Vec<String> {
    let mut names: Vec<String> = [
        "READ_ONCE",
        "WRITE_ONCE",
        "rcu_dereference",
        "rcu_assign_pointer",
        "smp_store_mb",
        "smp_load_acquire",
        "atomic_read_acquire",
        "smp_store_release",
        "atomic_set_release",
        "atomic_read",
        "atomic_set",
        "smp_mb",
        "smp_rmb",
        "smp_wmb",
        "barrier",
        "smp_mb__before_atomic",
        "smp_mb__after_atomic",
        "smp_mb__after_spinlock",
        "smp_mb__after_unlock_lock",
        "smp_mb__after_srcu_read_unlock",
        "spin_lock",
        "spin_unlock",
        "spin_trylock",
        "spin_is_locked",
        "rcu_read_lock",
        "rcu_read_unlock",
        "synchronize_rcu",
        "synchronize_rcu_expedited",
        "srcu_read_lock",
        "srcu_read_unlock",
        "srcu_down_read",
        "srcu_up_read",
        "synchronize_srcu",
        "synchronize_srcu_expedited",
        "atomic_add_unless",
        "atomic_inc_not_zero",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let orders = ["", "_relaxed", "_acquire", "_release"];
    let mut candidates = Vec::new();
    for o in orders {
        candidates.push(format!("xchg{o}"));
        candidates.push(format!("cmpxchg{o}"));
        candidates.push(format!("atomic_xchg{o}"));
        candidates.push(format!("atomic_cmpxchg{o}"));
        for op in ["add", "sub", "inc", "dec", "and", "or", "xor", "andnot"] {
            candidates.push(format!("atomic_fetch_{op}{o}"));
            candidates.push(format!("atomic_{op}_return{o}"));
            candidates.push(format!("atomic_{op}_and_test{o}"));
            candidates.push(format!("atomic_{op}{o}"));
        }
        candidates.push(format!("atomic_add_negative{o}"));
    }
    names.extend(candidates.into_iter().filter(|n| rmw_primitive(n).is_some()));
    names
}
