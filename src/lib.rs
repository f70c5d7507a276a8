//! kgrace: a deterministic concurrency fuzzer for kernel-style synchronization.
//!
//! kgrace settles arguments about kernel races by running a faithful model of the code under
//! many interleavings. Each race from a mailing-list thread is a *harness* with variants (the
//! posted patch, the fixes, the alternatives proposed in the thread); exploring a variant either
//! finds a failure, written as a replayable JSON [`Trace`], or does not within its budget.
//!
//! # What is modeled
//!
//! [`kernel`] is what a harness is written against, with kernel names and semantics:
//! * memory words inside [`kstruct!`] objects, every access with its kind: plain, `READ_ONCE`/
//!   `WRITE_ONCE`, `smp_load_acquire`/`smp_store_release`, atomic RMWs with and without return
//!   value, and the fences `smp_mb`, `smp_rmb`, `smp_wmb`, `barrier`;
//! * the heap: `kmalloc`/`kzalloc`/`kfree`, globals, on-stack objects;
//! * CPUs (`spawn_cpu`, `join`), `schedule`/`wake_up_process`;
//! * spinlocks, the 2015 kernel mutex with its internals (`count`, `owner`, `wait_lock`,
//!   `wait_list`, fast paths, optimistic spinning, the unlock slow path), rwsems, krefs, lists.
//!
//! Every operation is a scheduling point. The oracles are the kernel's own tools: KASAN
//! (use-after-free naming the field, the access, the CPU and the allocation and free steps;
//! double free), KCSAN's data-race rule (conflicting accesses from different CPUs, unordered by
//! happens-before, at least one plain; happens-before from release/acquire, fences, locks, spawn
//! and join, tracked with vector clocks), kmemleak (objects left at the end), `BUG_ON`/`WARN_ON`,
//! deadlock (every CPU blocked) and livelock (no end within the step budget).
//!
//! Search strategies implement the three-method [`sched::Strategy`] trait: [`sched::Pct`]
//! (Burckhardt et al., ASPLOS 2010) and [`sched::RandomWalk`]; the same seed always explores the
//! same executions. [`fuzz`] runs a harness under libFuzzer (`cargo fuzz run <harness>`), where
//! [`sched::FuzzSchedule`] reads PCT's choices from the input bytes.
//!
//! # A failing example
//!
//! ```
//! use kgrace::{Budget, Explorer, FailureKind};
//! use kgrace::sched::SchedulerSpec;
//!
//! let report = Explorer::new("mutex_unlock_free", "buggy")?
//!     .scheduler(SchedulerSpec::Pct { depth: 3, seed: 1 })
//!     .budget(Budget::Executions(1_000))
//!     .run();
//! let failure = report.failure.expect("PCT finds Mark Hairgrove's interleaving");
//! assert_eq!(failure.kind, FailureKind::UseAfterFree);
//! assert!(failure.inside("mutex_unlock"));
//! # Ok::<(), kgrace::Error>(())
//! ```
//!
//! The failure's message (`kgrace run mutex_unlock_free --seed 1` prints the same):
//!
//! ```text
//! BUG: KASAN: use-after-free in spin_lock
//! write of hmm_device#1.mutex.wait_lock by CPU1 hmm_notifier_release at step 112 (arch_spin_trylock)
//! allocated by CPU0 setup at step 1
//! freed by CPU2 close at step 111
//! Call Trace:
//!   spin_lock
//!   __mutex_unlock_slowpath
//!   mutex_unlock
//!   hmm_mirror_destroy
//!   hmm_notifier_release
//! ```
//!
//! # Replaying a failure
//!
//! `report.trace` holds the failing execution: every scheduling decision, and the events (step,
//! CPU, kernel function, operation, location, value read or written, source line), which come from
//! replaying the decisions once with recording on, so exploration itself stays fast.
//! [`Trace::save_new`] writes it without overwriting anything; `kgrace replay FILE` (or
//! [`Trace::replay`] and [`Trace::verdict`]) re-runs it and reports whether the recorded failure
//! reproduced, the run finished cleanly, or the run diverged from the trace and where.
//!
//! # Writing a model
//!
//! A harness body runs as CPU0: it allocates and initializes objects, spawns CPUs, joins them and
//! frees what is left. [`Explorer::from_fn`] explores such a body without registering it:
//!
//! ```
//! use kgrace::kernel::*;
//! kgrace::kstruct! { struct Data("data") { x: Word<u64> } }
//!
//! let report = kgrace::Explorer::from_fn("racy", || {
//!     let d: Data = kzalloc();
//!     let a = spawn_cpu("writer", move || d.x().store(1));
//!     let b = spawn_cpu("reader", move || { let _ = read_once(d.x()); });
//!     a.join();
//!     b.join();
//!     kfree(d);
//! })
//! .run();
//! assert_eq!(report.failure.unwrap().kind, kgrace::FailureKind::DataRace);
//! ```
//!
//! # Limitations
//!
//! * Execution is sequentially consistent. Failures that need a weakly ordered CPU or a compiler
//!   transformation (a stale read, a refetched plain load) are caught only as data races, not as
//!   their consequences; each access records its kind so that a weak model can come later.
//! * A failed `cmpxchg` is modeled as ordered (the engine fixes an access's kind before it sees
//!   the value); no modeled algorithm relies on a failed `cmpxchg` for ordering.
//! * New memory is zeroed (`kmalloc` behaves as `kzalloc`): reads of uninitialized fields are not
//!   flagged.
//! * The mutex's `osq` spinner queue, signals and lockdep are not modeled; the rwsem is a counter
//!   whose waiters block until it changes (no hand-off or fairness). The 2015 `owner` field,
//!   stored plainly by the kernel and read by spinners with `READ_ONCE`, is modeled as marked so
//!   that this benign race does not hide the one a harness is about.
//! * An optimistic spinner spins as long as the owner runs; when it finds no owner it gives up
//!   after a few tries, standing in for `need_resched()`.
//! * At most 7 CPUs per execution, 20,000 modeled operations per execution.
#![deny(missing_docs, missing_debug_implementations, rust_2018_idioms)]

mod engine;
pub mod explore;
mod failure;
pub mod fuzz;
pub mod harness;
pub mod kernel;
pub mod sched;
pub mod trace;

pub use explore::{Budget, Explorer, Report};
pub use failure::{Failure, FailureKind};
pub use trace::{Trace, Verdict};

use std::path::PathBuf;

/// What can go wrong outside an execution: bad names, unreadable or malformed traces.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No harness by that name.
    #[error("unknown harness `{name}`; harnesses: {known} (see `kgrace list`)")]
    UnknownHarness {
        /// The name asked for.
        name: String,
        /// The names there are.
        known: String,
    },
    /// The harness has no such variant.
    #[error("harness `{harness}` has no variant `{variant}`; variants: {known} (see `kgrace list`)")]
    UnknownVariant {
        /// The harness.
        harness: String,
        /// The variant asked for.
        variant: String,
        /// The variants there are.
        known: String,
    },
    /// The trace file could not be read.
    #[error("cannot read trace {path}: {source}")]
    TraceRead {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The trace file is not a usable trace.
    #[error("{path} is not a usable kgrace trace: {reason}")]
    BadTrace {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A trace could not be written.
    #[error("cannot write trace {path}: {source}")]
    TraceWrite {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}
