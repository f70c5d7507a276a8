//! herd7's C litmus tests for the Linux-kernel memory model (LKMM): parser, checker, final-state
//! judge, and an interpreter of process bodies over an abstract [`Machine`].
//!
//! A test goes through [`parse()`] (text to [`Test`]), [`check()`] (names and calls resolved into a
//! [`Program`], or an "unsupported: ..." error), then the engine allocates
//! [`Program::shared`], runs each process with [`Proc::run`] against its [`Machine`], builds a
//! [`FinalState`] per execution ([`Program::final_state`]) and asks [`Program::judge`] for
//! herd7's Never/Sometimes/Always. [`load`] is parse and check in one.
//!
//! # The dialect supported
//!
//! * Header: `C name`, then optional generator metadata (`Cycle=...`), a quoted doc string
//!   and `(* *)` comments. Comments anywhere: `//`, `/* */`, and `(* *)` when `(*` is followed
//!   by white space (`(*x` is a dereference).
//! * Initial state `{ ... }`: `;`-separated entries `[type] name [= value]` where the value is an
//!   integer, `&y`, a bare name `y` (the address of `y`, as herd7 reads it) or `ATOMIC_INIT(n)`;
//!   register entries `0:r1 = v`. Types: `int`, `intptr_t`, `atomic_t`, `spinlock_t`,
//!   `struct srcu_struct`, other C integer words, with any number of `*`. A location named
//!   nowhere in the block is an `int` starting at 0.
//! * Processes `Pn(type *a, type **b, ...)`, numbered from 0 in order. A parameter's value is
//!   the address of the shared location of the same name. Bodies: declarations (with
//!   initializers, several per line, anywhere in the body), undeclared registers (generated
//!   tests use them), `r = e;`, `*p = e;` (plain store), `r = *p` (plain load), `if`/`else`,
//!   blocks, C arithmetic, comparison, logical and bitwise operators, `?:`, casts (no effect;
//!   `(void)e` discards), and calls of the LKMM primitives of `linux-kernel.def`
//!   ([`primitive_names`]): `READ_ONCE(*p)`, `WRITE_ONCE(*p, v)`, `rcu_dereference(*p)`,
//!   `rcu_assign_pointer(*p, v)` and `smp_store_mb(*p, v)` take the location itself (`*p`);
//!   `smp_load_acquire(p)`, `smp_store_release(p, v)`, `atomic_*`, `xchg*`, `cmpxchg*`, locks
//!   and SRCU take a pointer. Arguments are in the kernel's order (`atomic_add(v, p)`).
//! * Final section, in any order: `locations [x; 0:r1]`, `filter c`, and one of `exists c`,
//!   `~exists c`, `forall c`; `c` is built from `/\`, `\/`, `~`, parentheses, `true`, `false`
//!   and atoms `loc = v` / `loc != v`, where `loc` is `n:r` or `x` and `v` an integer, a
//!   location name (its address) or another register `m:s`.
//!
//! Not supported (reported as `unsupported: ...`): loops, `switch`/`return`/`goto`, arrays,
//! struct members (`->`, `.`), `&` in process bodies, compound assignment and `++`/`--`,
//! calls other than the LKMM primitives (`try_cmpxchg`, `spin_unlock_wait`, ...), non-pointer
//! parameters, non-C litmus languages.
//!
//! # Values
//!
//! Registers and memory hold 64-bit words; arithmetic wraps and comparisons are signed.
//! Pointers are the engine's addresses ([`Machine::addr_of`]), so a final value that is an
//! address is printed as the name of the location (`0:r1=x`), as herd7 does
//! ([`Value::from_machine`]).

pub mod ast;
pub mod check;
pub mod cond;
pub mod interp;
pub mod parse;
pub mod reorder;
pub mod run;
pub mod seq;
pub mod suite;
#[cfg(test)]
mod tests;

pub use ast::{Cond, CondRhs, Final, InitValue, Loc, Quantifier, Test};
pub use check::{check, load, primitive_names, LocKind, Proc, Program, SharedVar};
pub use cond::{eval, judge, FinalState, MissingLocation, Observation, Outcome, Value};
pub use interp::{FenceKind, LoadKind, Machine, Registers, RmwOp, RmwOrder, StoreKind};
pub use parse::{parse, ParseError};
pub use seq::SeqMachine;

impl Program {
    /// The shared locations to allocate before any process runs, with their initial values (an
    /// integer, or the address of another of them, which must therefore be allocated first or
    /// patched in after all addresses are known).
    pub fn shared_vars(&self) -> &[SharedVar] {
        &self.shared
    }
}
