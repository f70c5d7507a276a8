//! The syntax tree of a C litmus test, as written (before [`check()`](super::check())).
//!
//! Calls are kept by name here ([`Expr::Call`]); the check pass decides which names are LKMM
//! primitives, so that an unknown call is reported as "unsupported" with its line instead of
//! failing the parse.

use std::fmt;

/// A whole litmus test.
#[derive(Clone, Debug, PartialEq)]
pub struct Test {
    /// The name after `C` on the first line (need not match the file name).
    pub name: String,
    /// The quoted string of a generated test, or else the first `(* ... *)` comment before the
    /// initial state, without its delimiters.
    pub doc: Option<String>,
    /// Every `(* ... *)` comment before the initial state, without delimiters.
    pub header_comments: Vec<String>,
    /// herd7-generator metadata lines (`Cycle=...`, `Relax=...`) as key and value; they carry
    /// no meaning for the verdict.
    pub metadata: Vec<(String, String)>,
    /// The entries of the initial-state block, in order.
    pub init: Vec<InitEntry>,
    /// The processes, `P0`, `P1`, ... in the order written.
    pub procs: Vec<Process>,
    /// `locations [...]`: locations herd7 adds to its printed states (no effect on the verdict).
    pub locations: Vec<Loc>,
    /// `filter (...)`: executions whose final state fails it are dropped before counting.
    pub filter: Option<Cond>,
    /// The final clause; `None` when the test has none (herd7 then only looks for deadlock).
    pub fin: Option<Final>,
}

impl Test {
    /// The verdict the test's own comment states (`Result: Never`, `Result: Sometimes DATARACE`),
    /// the word after `Result:` and anything else on that line.
    pub fn result_comment(&self) -> Option<&str> {
        self.doc.iter().chain(&self.header_comments).find_map(|text| {
            let at = text.find("Result:")?;
            Some(text[at + "Result:".len()..].lines().next().unwrap_or("").trim())
        })
    }
}

/// A C type as litmus tests use them: a base name and a number of `*`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CType {
    /// The base type, normalized to single spaces: `int`, `intptr_t`, `atomic_t`,
    /// `spinlock_t`, `struct srcu_struct`, `unsigned long`, `void`, ...
    pub base: String,
    /// How many `*` follow the base.
    pub pointers: u32,
}

impl CType {
    /// A base type without `*`.
    pub fn plain(base: &str) -> Self {
        CType {
            base: base.to_string(),
            pointers: 0,
        }
    }

    /// The type one `*` removed, as a parameter `int *x` names a location of type `int`.
    pub fn pointee(&self) -> CType {
        CType {
            base: self.base.clone(),
            pointers: self.pointers.saturating_sub(1),
        }
    }
}

impl fmt::Display for CType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.base)?;
        if self.pointers > 0 {
            write!(f, " {}", "*".repeat(self.pointers as usize))?;
        }
        Ok(())
    }
}

/// One `;`-terminated entry of the initial-state block.
#[derive(Clone, Debug, PartialEq)]
pub struct InitEntry {
    /// Line of the entry (1-based).
    pub line: usize,
    /// The declared type, if any (`int *p = &x;` has one, `p = x;` has none).
    pub ty: Option<CType>,
    /// What is initialized.
    pub target: InitTarget,
    /// Its initial value; `None` for a bare declaration (`int x;`, `spinlock_t l;`), which herd7
    /// starts at 0.
    pub value: Option<InitValue>,
}

/// What an initial-state entry initializes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InitTarget {
    /// A shared location.
    Var(String),
    /// A register of a process (`0:r1 = 2;`).
    Reg {
        /// The process number.
        proc: usize,
        /// The register.
        reg: String,
    },
}

/// An initial value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InitValue {
    /// An integer (`x = 1`, `atomic_t v = ATOMIC_INIT(1)`).
    Int(i64),
    /// The address of a location: `&x`, or a bare name (`int *p = x;`, `h = l1;`), which herd7
    /// reads as the address of that location.
    AddrOf(String),
}

impl fmt::Display for InitValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InitValue::Int(v) => write!(f, "{v}"),
            InitValue::AddrOf(x) => write!(f, "&{x}"),
        }
    }
}

/// A process `Pn(params) { body }`.
#[derive(Clone, Debug, PartialEq)]
pub struct Process {
    /// `n` of `Pn`.
    pub index: usize,
    /// Line of the `Pn` header.
    pub line: usize,
    /// The parameters; each names the shared location of the same name.
    pub params: Vec<Param>,
    /// The statements of the body.
    pub body: Vec<Stmt>,
}

/// A process parameter `int *x`: a pointer to shared location `x`.
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    /// The declared type (with its `*`).
    pub ty: CType,
    /// The name, which is also the shared location's name.
    pub name: String,
}

/// A statement of a process body.
#[derive(Clone, Debug, PartialEq)]
pub enum Stmt {
    /// A local declaration `int r0;`, `int *r1 = x;` (one per declarator).
    Decl {
        /// Line.
        line: usize,
        /// Declared type.
        ty: CType,
        /// Register name.
        name: String,
        /// Initializer.
        init: Option<Expr>,
    },
    /// `lhs = rhs;`
    Assign {
        /// Line.
        line: usize,
        /// The target: a register, or `*e` (a plain store).
        lhs: Expr,
        /// The value.
        rhs: Expr,
    },
    /// An expression evaluated for its effect (`smp_mb();`, `(void)atomic_add_unless(...)`).
    Expr {
        /// Line.
        line: usize,
        /// The expression.
        expr: Expr,
    },
    /// `if (cond) then [else els]`.
    If {
        /// Line.
        line: usize,
        /// The condition (true when nonzero).
        cond: Expr,
        /// The then branch.
        then: Vec<Stmt>,
        /// The else branch (empty when absent).
        els: Vec<Stmt>,
    },
    /// `{ ... }`.
    Block(Vec<Stmt>),
}

/// Unary operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnOp {
    /// `-e`
    Neg,
    /// `!e`
    Not,
    /// `~e`
    BitNot,
}

/// Binary operators (C semantics on 64-bit values; comparisons are signed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    /// `*`
    Mul,
    /// `/` (division by zero gives 0 rather than trapping)
    Div,
    /// `%` (modulo zero gives 0)
    Rem,
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `<<`
    Shl,
    /// `>>`
    Shr,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `&`
    BitAnd,
    /// `^`
    BitXor,
    /// `|`
    BitOr,
    /// `&&` (short-circuit)
    And,
    /// `||` (short-circuit)
    Or,
}

/// An expression of a process body.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// An integer literal.
    Int(i64),
    /// A name: a register, or a parameter (whose value is the address of its location).
    Var(String),
    /// `*e`: the location at address `e` (a plain access unless inside a marked primitive).
    Deref(Box<Expr>),
    /// `&e`.
    AddrOf(Box<Expr>),
    /// A unary operation.
    Unary(UnOp, Box<Expr>),
    /// A binary operation.
    Binary(BinOp, Box<Expr>, Box<Expr>),
    /// `(type)e`; value-preserving (every value is a 64-bit word), `(void)e` discards.
    Cast(CType, Box<Expr>),
    /// `c ? a : b`.
    Ternary(Box<Expr>, Box<Expr>, Box<Expr>),
    /// `name(args)`.
    Call {
        /// Line of the name.
        line: usize,
        /// The function or macro called.
        name: String,
        /// The arguments.
        args: Vec<Expr>,
    },
}

/// A location named in a final condition or a `locations` clause.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Loc {
    /// `n:r`: register `r` of process `n` at the end.
    Reg {
        /// Process number.
        proc: usize,
        /// Register name.
        reg: String,
    },
    /// `x`: the final value of shared location `x`.
    Var(String),
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Loc::Reg { proc, reg } => write!(f, "{proc}:{reg}"),
            Loc::Var(x) => write!(f, "{x}"),
        }
    }
}

/// The right-hand side of a condition atom.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CondRhs {
    /// An integer.
    Int(i64),
    /// A bare name: the address of that shared location (`0:r1=x`).
    Addr(String),
    /// A register (`0:r10=1:r10`): the two must hold the same value.
    Reg {
        /// Process number.
        proc: usize,
        /// Register name.
        reg: String,
    },
}

impl fmt::Display for CondRhs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CondRhs::Int(v) => write!(f, "{v}"),
            CondRhs::Addr(x) => write!(f, "{x}"),
            CondRhs::Reg { proc, reg } => write!(f, "{proc}:{reg}"),
        }
    }
}

/// A proposition over a final state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cond {
    /// `true` / `false`.
    Const(bool),
    /// `loc = rhs` (or `loc != rhs` when `negated`).
    Atom {
        /// The location compared.
        lhs: Loc,
        /// What it is compared with.
        rhs: CondRhs,
        /// `!=` rather than `=`.
        negated: bool,
    },
    /// `~c`.
    Not(Box<Cond>),
    /// `a /\ b`.
    And(Box<Cond>, Box<Cond>),
    /// `a \/ b`.
    Or(Box<Cond>, Box<Cond>),
}

impl fmt::Display for Cond {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cond::Const(b) => write!(f, "{b}"),
            Cond::Atom { lhs, rhs, negated } => {
                write!(f, "{lhs}{}{rhs}", if *negated { "!=" } else { "=" })
            }
            Cond::Not(c) => write!(f, "~{c}"),
            Cond::And(a, b) => write!(f, "({a} /\\ {b})"),
            Cond::Or(a, b) => write!(f, "({a} \\/ {b})"),
        }
    }
}

/// The quantifier of the final clause.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quantifier {
    /// `exists c`: validated when some final state satisfies `c`.
    Exists,
    /// `~exists c`: validated when no final state satisfies `c`.
    NotExists,
    /// `forall c`: validated when every final state satisfies `c`.
    Forall,
}

/// The final clause: a quantifier and a proposition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Final {
    /// Line of the keyword.
    pub line: usize,
    /// `exists`, `~exists` or `forall`.
    pub quantifier: Quantifier,
    /// The proposition.
    pub cond: Cond,
}
