//! What an execution runs under: the kernel configuration of a variant, and the memory model.

use serde::{Deserialize, Serialize};

/// The memory model an execution runs under.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MemoryModel {
    /// Sequential consistency: every load reads the newest store, an execution is one
    /// interleaving of its CPUs' steps. The default.
    #[default]
    Sc,
    /// The Linux-kernel memory model, as a view-based machine (promise-free Promising-ARM): a load
    /// may read an older store where LKMM allows it, and which one is a decision of the search
    /// (see the crate docs, "Weak memory").
    Lkmm,
}

impl MemoryModel {
    /// Both models, `sc` first.
    pub const ALL: [MemoryModel; 2] = [MemoryModel::Sc, MemoryModel::Lkmm];

    /// `sc` or `lkmm`, as the command line and traces spell it.
    pub fn name(self) -> &'static str {
        match self {
            MemoryModel::Sc => "sc",
            MemoryModel::Lkmm => "lkmm",
        }
    }
}

impl std::fmt::Display for MemoryModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for MemoryModel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "sc" => Ok(MemoryModel::Sc),
            "lkmm" => Ok(MemoryModel::Lkmm),
            _ => Err(format!("unknown memory model `{s}`; use `sc` or `lkmm`")),
        }
    }
}

/// Kernel configuration a variant runs under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// `CONFIG_DEBUG_MUTEXES`: no mutex fast path, no optimistic spinning, unlock inside
    /// `wait_lock`.
    pub debug_mutexes: bool,
    /// Check the grace-period guarantee whenever a `synchronize_srcu` returns: a stronger oracle
    /// than waiting for the use-after-free (`docs/concurrent_srcu.md`, oracle O2.1).
    pub gp_oracle: bool,
    /// The compiler re-loads plain loads the harness marks refetchable (`Word::refetch`), as it
    /// may when a plain value is used in two places.
    pub refetch: bool,
    /// `CONFIG_KCSAN`: report data races. Off only to show what a race leads to further on.
    pub kcsan: bool,
    /// The memory model this variant must run under, whatever the run asks for (`None`: the
    /// run's choice).
    pub memory: Option<MemoryModel>,
    /// Mutants of the SRCU implementations: bit `i` removes the `i`-th `smp_mb` of the flavour
    /// (see `kernel::srcu`), to show that the barrier is needed. 0 in every real variant.
    pub srcu_drop_mb: u32,
    /// `CONFIG_PREEMPT`: kernel code can be preempted anywhere preemption is not disabled, so
    /// `synchronize_rcu` waits only for explicit `rcu_read_lock` sections. Off
    /// (`!CONFIG_PREEMPT`, the common configuration of 2015), a grace period also waits for every
    /// other CPU running kernel code when it starts to pass a quiescent state (block, sleep or
    /// return to user space): code that does not sleep, a spinlock-held region for one, is an
    /// implicit reader. SRCU does not change. With it, a task that runs may also be found
    /// preempted (off its CPU) by a mutex spinner looking at it
    /// ([`task_on_cpu`](crate::kernel::task_on_cpu)); without it only a sleeping task is.
    pub preempt: bool,
    /// The mutex unlock slow path before v3.15 (before commit `1d8fe7dc8078`): `count` is
    /// released inside `wait_lock`, after `spin_lock`; fast paths and spinning as in v4.1.
    pub mutex_unlock_pre_3_15: bool,
    /// SRCU readers migrate: a task preempted inside its read-side section may resume on another
    /// CPU, so its `srcu_read_unlock` updates that CPU's counters (the strategy picks the CPU).
    /// Off, a section ends on the CPU it began on: each unlock is then one decision fewer, which
    /// keeps exhaustive searches of harnesses whose question is not SRCU's finite.
    pub srcu_migration: bool,
    /// The mutex orderings of v4.10 and later (Peter Zijlstra's rework, which made the lock word
    /// `owner`): `mutex_lock` is an acquire (`atomic_long_try_cmpxchg_acquire`) and
    /// `mutex_unlock` a release, not full barriers. The algorithm stays v4.1's (the `count`
    /// word, optimistic spinning, the wait list); only its orderings change. Off, v4.1's fully
    /// ordered `atomic_dec_return`/`atomic_inc_return` fast paths, for harnesses of that era.
    pub mutex_acquire_release: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config::DEFAULT
    }
}

impl Config {
    /// The default configuration: KCSAN and `CONFIG_PREEMPT` on, everything else off.
    pub const DEFAULT: Config = Config {
        debug_mutexes: false,
        gp_oracle: false,
        refetch: false,
        kcsan: true,
        memory: None,
        srcu_drop_mb: 0,
        preempt: true,
        mutex_unlock_pre_3_15: false,
        srcu_migration: false,
        mutex_acquire_release: false,
    };

    /// This configuration with the grace-period oracle on or off.
    pub const fn with_gp_oracle(mut self, on: bool) -> Config {
        self.gp_oracle = on;
        self
    }

    /// This configuration with refetching on or off.
    pub const fn with_refetch(mut self, on: bool) -> Config {
        self.refetch = on;
        self
    }

    /// This configuration with KCSAN on or off.
    pub const fn with_kcsan(mut self, on: bool) -> Config {
        self.kcsan = on;
        self
    }

    /// This configuration with `CONFIG_DEBUG_MUTEXES` on or off.
    pub const fn with_debug_mutexes(mut self, on: bool) -> Config {
        self.debug_mutexes = on;
        self
    }

    /// This configuration with `CONFIG_PREEMPT` on or off.
    pub const fn with_preempt(mut self, on: bool) -> Config {
        self.preempt = on;
        self
    }

    /// This configuration with the pre-3.15 mutex unlock slow path or the v3.15+ one.
    pub const fn with_mutex_unlock_pre_3_15(mut self, on: bool) -> Config {
        self.mutex_unlock_pre_3_15 = on;
        self
    }

    /// This configuration with SRCU readers migrating or not.
    pub const fn with_srcu_migration(mut self, on: bool) -> Config {
        self.srcu_migration = on;
        self
    }

    /// This configuration with v4.10+ mutex orderings (acquire/release) or v4.1's (full).
    pub const fn with_mutex_acquire_release(mut self, on: bool) -> Config {
        self.mutex_acquire_release = on;
        self
    }

    /// This configuration pinned to a memory model.
    pub const fn with_memory(mut self, m: MemoryModel) -> Config {
        self.memory = Some(m);
        self
    }

    /// This configuration with the SRCU barriers in the bit set `mask` removed (a mutant).
    pub const fn with_srcu_drop_mb(mut self, mask: u32) -> Config {
        self.srcu_drop_mb = mask;
        self
    }

    /// The memory model an execution of this variant runs under when the run asks for `run`.
    pub fn memory_for(&self, run: MemoryModel) -> MemoryModel {
        self.memory.unwrap_or(run)
    }
}
