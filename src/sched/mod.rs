//! Search strategies: what decides which CPU runs at each scheduling point.
//!
//! The seam between the engine and a strategy is the three-method [`Strategy`] trait, shaped like
//! shuttle's `Scheduler` but in kgrace's own terms (CPU indices, not shuttle tasks), so that a
//! strategy can be unit-tested without shuttle and the fuzzer can plug in its own. One strategy a
//! file: [`Pct`], [`RandomWalk`], [`Replay`], which re-runs recorded decisions, and
//! [`FuzzSchedule`], which reads them from a fuzzer's input.

mod dfs;
mod fuzz;
mod guided;
mod lenient;
mod pct;
mod portfolio;
mod pos;
mod random;
mod replay;
mod rng;
mod stall;
mod uniform;

pub use dfs::Dfs;
pub use fuzz::{ChangePoints, FuzzInput, FuzzSchedule, Priorities, FUZZ_PRIORITY_CPUS, MAX_CHANGE_POINTS};
pub use guided::{Guided, Phase};
pub use lenient::Lenient;
pub use pct::Pct;
pub use portfolio::Portfolio;
pub use pos::Pos;
pub use random::RandomWalk;
pub use replay::{Divergence, Replay};
pub use rng::SplitMix64;
pub use stall::UniformStall;
pub use uniform::UniformWalk;

use serde::{Deserialize, Serialize};

/// A CPU index: 0 is the harness's setup CPU, spawned CPUs count up from 1.
pub type CpuId = usize;

/// What the running CPU is about to do, as far as the engine can tell: the one hint a strategy
/// gets besides who can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NextStep {
    /// An operation on memory another CPU has touched, a free of it, or a wake-up: a step whose
    /// order against other CPUs' steps can change the outcome.
    Shared {
        /// The object it operates on, when the engine knows ([`NextStep::ANY_OBJECT`] when not:
        /// a lock hand-off, a wake-up); two shared steps on different objects commute.
        object: u32,
    },
    /// An operation no other CPU can observe yet (on memory only this CPU has touched, a fence
    /// under sequential consistency, an allocation). It commutes with every other CPU's steps, so
    /// preempting the CPU here is the same as preempting it at its next shared step.
    Local,
    /// The CPU spins, waiting for another (`cpu_relax`), and asks to let others run.
    Spin,
    /// The CPU has just spawned another. Like `Local` for an exhaustive search (the child's
    /// first step comes after a scheduling point of its own, so starting it later loses no
    /// interleaving); the randomized strategies treat it as `Shared`, which keeps their
    /// distribution over executions as it was.
    Spawn,
}

/// Decides the interleaving of one execution after another, and under the `lkmm` memory model
/// which store each load reads.
pub trait Strategy {
    /// A new execution is about to begin. `false` ends the exploration: the strategy has nothing
    /// left to try (an exhaustive search that is done).
    fn new_execution(&mut self) -> bool;

    /// Pick the CPU that runs the next step. `runnable` is sorted and never empty; `current` is the
    /// CPU that ran the last step (`None` before the first), and `next` says what it would do next.
    /// `None` abandons the execution.
    fn next_cpu(&mut self, runnable: &[CpuId], current: Option<CpuId>, next: NextStep) -> Option<CpuId>;

    /// Which of `choices` stores (`choices > 1`) the load being executed reads: 0 is the newest
    /// (what sequential consistency reads), `k` the `k`-th older one the memory model allows.
    fn next_read(&mut self, choices: usize) -> usize;
}

impl NextStep {
    /// The object of a shared step whose object is not known: it may conflict with any step.
    pub const ANY_OBJECT: u32 = u32::MAX;
    /// A shared step on an object not known.
    pub const SHARED: NextStep = NextStep::Shared {
        object: NextStep::ANY_OBJECT,
    };

    /// Whether this is a shared step.
    pub fn is_shared(self) -> bool {
        matches!(self, NextStep::Shared { .. })
    }
}

impl<S: Strategy + ?Sized> Strategy for Box<S> {
    fn new_execution(&mut self) -> bool {
        (**self).new_execution()
    }
    fn next_cpu(&mut self, runnable: &[CpuId], current: Option<CpuId>, next: NextStep) -> Option<CpuId> {
        (**self).next_cpu(runnable, current, next)
    }
    fn next_read(&mut self, choices: usize) -> usize {
        (**self).next_read(choices)
    }
}

/// A serializable description of a seeded strategy, as written in traces and given on the CLI.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
#[non_exhaustive]
pub enum SchedulerSpec {
    /// PCT with bug depth `depth` (Burckhardt et al., ASPLOS 2010).
    Pct {
        /// Bug depth: `depth - 1` priority change points per execution.
        depth: u32,
        /// Seed of the whole run.
        seed: u64,
    },
    /// A uniformly random runnable CPU at each step.
    Random {
        /// Seed of the whole run.
        seed: u64,
    },
    /// PCT at two depths and the uniform walk taking turns (the default before `Guided`).
    Portfolio {
        /// PCT's bug depth.
        depth: u32,
        /// Seed of the whole run.
        seed: u64,
    },
    /// Reads-from-guided exploration ([`Guided`], the default): `portfolio`'s first 22
    /// executions, then PCT, the uniform walk, POS, mutations of the executions that found new
    /// reads-from pairs and reversals of near misses, under a bandit.
    Guided {
        /// The bug depth: its PCT arm runs at `depth + 1`, its mutations continue under early
        /// PCT of `depth - 1` (at least 1).
        depth: u32,
        /// Seed of the whole run.
        seed: u64,
    },
    /// The uniform walk with PCT's stalls.
    Stall {
        /// `depth - 1` stalls per execution.
        depth: u32,
        /// Seed of the whole run.
        seed: u64,
    },
    /// Partial order sampling ([`Pos`], Yuan et al., CAV 2018).
    Pos {
        /// Seed of the whole run.
        seed: u64,
    },
    /// A uniform random walk over interleavings (SURW's sampling, Zhao et al., ASPLOS 2025).
    Uniform {
        /// Seed of the whole run.
        seed: u64,
    },
    /// Exhaustive depth-first search over every decision, with at most `preemptions`
    /// preemptions per execution ([`Dfs`]).
    Dfs {
        /// The preemption bound; `None` for none.
        preemptions: Option<u32>,
    },
    /// Decisions read from a fuzzer's input bytes (see the `fuzz/` targets). Traces name it;
    /// nothing outside kgrace can make one, so no exploration is asked to build it.
    Fuzz {
        /// Only kgrace makes this variant.
        #[serde(skip)]
        sealed: Sealed,
    },
    /// Decisions read back from a trace. Traces name it; nothing outside kgrace can make one.
    Replay {
        /// Only kgrace makes this variant.
        #[serde(skip)]
        sealed: Sealed,
    },
}

/// A field only kgrace can fill: the strategies a trace may name but an exploration cannot use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sealed(());

impl SchedulerSpec {
    /// The label of a trace of a fuzz input.
    pub(crate) const FUZZ: SchedulerSpec = SchedulerSpec::Fuzz { sealed: Sealed(()) };

    /// Build the strategy this spec describes. `Fuzz` and `Replay` carry no seed: they are built
    /// from their input by their own constructors, and yield `None` here.
    pub fn build(self) -> Option<Box<dyn Strategy>> {
        match self {
            SchedulerSpec::Pct { depth, seed } => Some(Box::new(Pct::new(depth, seed))),
            SchedulerSpec::Random { seed } => Some(Box::new(RandomWalk::new(seed))),
            SchedulerSpec::Uniform { seed } => Some(Box::new(UniformWalk::new(seed))),
            SchedulerSpec::Pos { seed } => Some(Box::new(Pos::new(seed))),
            SchedulerSpec::Stall { depth, seed } => Some(Box::new(UniformStall::new(depth, seed))),
            SchedulerSpec::Portfolio { depth, seed } => Some(Box::new(Portfolio::new(depth, seed))),
            SchedulerSpec::Guided { depth, seed } => Some(Box::new(Guided::new(depth, seed))),
            SchedulerSpec::Dfs { preemptions } => Some(Box::new(Dfs::new(preemptions))),
            SchedulerSpec::Fuzz { .. } | SchedulerSpec::Replay { .. } => None,
        }
    }

    /// The same strategy with another seed (`Dfs`, `Fuzz` and `Replay` have none and stay as
    /// they are).
    pub fn with_seed(self, seed: u64) -> SchedulerSpec {
        match self {
            SchedulerSpec::Pct { depth, .. } => SchedulerSpec::Pct { depth, seed },
            SchedulerSpec::Random { .. } => SchedulerSpec::Random { seed },
            SchedulerSpec::Uniform { .. } => SchedulerSpec::Uniform { seed },
            SchedulerSpec::Pos { .. } => SchedulerSpec::Pos { seed },
            SchedulerSpec::Stall { depth, .. } => SchedulerSpec::Stall { depth, seed },
            SchedulerSpec::Portfolio { depth, .. } => SchedulerSpec::Portfolio { depth, seed },
            SchedulerSpec::Guided { depth, .. } => SchedulerSpec::Guided { depth, seed },
            other => other,
        }
    }

    /// The seed of a seeded strategy (`None` for `Dfs`, `Fuzz` and `Replay`).
    pub fn seed(self) -> Option<u64> {
        match self {
            SchedulerSpec::Pct { seed, .. }
            | SchedulerSpec::Random { seed }
            | SchedulerSpec::Uniform { seed }
            | SchedulerSpec::Pos { seed }
            | SchedulerSpec::Stall { seed, .. }
            | SchedulerSpec::Portfolio { seed, .. }
            | SchedulerSpec::Guided { seed, .. } => Some(seed),
            SchedulerSpec::Dfs { .. } | SchedulerSpec::Fuzz { .. } | SchedulerSpec::Replay { .. } => None,
        }
    }

    /// The strategy's name, as `kgrace run --scheduler` spells it.
    pub fn name(self) -> &'static str {
        match self {
            SchedulerSpec::Pct { .. } => "pct",
            SchedulerSpec::Random { .. } => "random",
            SchedulerSpec::Uniform { .. } => "uniform",
            SchedulerSpec::Pos { .. } => "pos",
            SchedulerSpec::Stall { .. } => "stall",
            SchedulerSpec::Portfolio { .. } => "portfolio",
            SchedulerSpec::Guided { .. } => "guided",
            SchedulerSpec::Dfs { .. } => "dfs",
            SchedulerSpec::Fuzz { .. } => "fuzz",
            SchedulerSpec::Replay { .. } => "replay",
        }
    }
}

impl std::fmt::Display for SchedulerSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SchedulerSpec::Pct { depth, seed } => write!(f, "pct (depth {depth}, seed {seed})"),
            SchedulerSpec::Random { seed } => write!(f, "random (seed {seed})"),
            SchedulerSpec::Uniform { seed } => write!(f, "uniform (seed {seed})"),
            SchedulerSpec::Pos { seed } => write!(f, "pos (seed {seed})"),
            SchedulerSpec::Stall { depth, seed } => write!(f, "stall (depth {depth}, seed {seed})"),
            SchedulerSpec::Portfolio { depth, seed } => {
                write!(
                    f,
                    "portfolio of pct (depths {depth}, {}) and uniform, seed {seed}",
                    depth + 1
                )
            }
            SchedulerSpec::Guided { depth, seed } => {
                write!(
                    f,
                    "guided (pct depth {}, uniform, pos, mutations, reversals; seed {seed})",
                    depth + 1
                )
            }
            SchedulerSpec::Dfs { preemptions: Some(p) } => write!(f, "dfs (at most {p} preemptions)"),
            SchedulerSpec::Dfs { preemptions: None } => write!(f, "dfs (no preemption bound)"),
            SchedulerSpec::Fuzz { .. } => write!(f, "fuzz input"),
            SchedulerSpec::Replay { .. } => write!(f, "replay"),
        }
    }
}

/// One recorded scheduling decision: the CPU that ran, or a value the model asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Decision {
    /// The CPU chosen at a scheduling point.
    Cpu(CpuId),
    /// Which store a load read, counted back from the newest ([`Strategy::next_read`]).
    Read {
        /// 0 is the newest store.
        read: u32,
    },
    /// A value choice of version 1 traces (never written: kept so that they still load).
    Value {
        /// The value.
        value: u64,
    },
}
