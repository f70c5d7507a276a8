//! The harnesses: one module per mailing-list race, each with its variants and their expected
//! verdicts.

mod client_data_kref;
mod concurrent_srcu;
mod mutex_unlock_free;
mod state_in_sysfs;

use crate::engine::{self, ModelConfig};
use crate::failure::FailureKind;
use crate::Error;

/// A race from one mailing-list thread, modeled as kernel code.
#[derive(Debug)]
pub struct Harness {
    /// The harness name (`mutex_unlock_free`).
    pub name: &'static str,
    /// The thread it comes from (seed file and subject).
    pub thread: &'static str,
    /// The question the thread argues, in one line.
    pub question: &'static str,
    /// The variants, the thread's posted (buggy) code first.
    pub variants: &'static [Variant],
    pub(crate) body: Body,
}

/// The code of a harness.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Body {
    /// A registered harness: takes the variant name.
    Variants(fn(&'static str)),
    /// A model given to [`Explorer::from_fn`](crate::Explorer::from_fn).
    Plain(fn()),
}

/// One version of the harness code: the posted patch, a fix, a proposed alternative.
#[derive(Clone, Copy, Debug)]
pub struct Variant {
    /// The variant name (`buggy`, `fixed`, ...).
    pub name: &'static str,
    /// What exploring it should find.
    pub expected: Expected,
    /// What this variant is, in one line.
    pub summary: &'static str,
    /// Model configuration (kernel config options).
    pub config: Config,
}

/// The verdict a variant is expected to get.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expected {
    /// Exploration finds a failure of this kind.
    Fails(FailureKind),
    /// No failure within the budget.
    Passes,
}

impl std::fmt::Display for Expected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Expected::Fails(k) => write!(f, "fails: {k}"),
            Expected::Passes => f.write_str("passes"),
        }
    }
}

/// Kernel configuration a variant runs under.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// `CONFIG_DEBUG_MUTEXES`: no mutex fast path, no optimistic spinning, unlock inside
    /// `wait_lock`.
    pub debug_mutexes: bool,
    /// Check the grace-period guarantee (`kernel-models.md` §2.7, O2.1) whenever a
    /// `synchronize_srcu` returns: a stronger oracle than waiting for the use-after-free.
    pub gp_oracle: bool,
    /// The compiler re-loads plain loads the harness marks refetchable (`Word::refetch`), as it
    /// may when a plain value is used in two places (§1.4 a).
    pub refetch: bool,
    /// `CONFIG_KCSAN`: report data races. Off only to show what a race leads to further on.
    pub kcsan: bool,
}

impl Config {
    /// The default configuration: KCSAN on, everything else off.
    pub const DEFAULT: Config = Config {
        debug_mutexes: false,
        gp_oracle: false,
        refetch: false,
        kcsan: true,
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
}

impl Harness {
    /// The variant called `name`.
    pub fn variant(&self, name: &str) -> Result<&'static Variant, Error> {
        self.variants
            .iter()
            .find(|v| v.name == name)
            .ok_or_else(|| Error::UnknownVariant {
                harness: self.name.to_string(),
                variant: name.to_string(),
                known: self
                    .variants
                    .iter()
                    .map(|v| v.name)
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// The variant run when none is named: the thread's posted code.
    pub fn default_variant(&self) -> &'static Variant {
        &self.variants[0]
    }
}

static HARNESSES: &[Harness] = &[
    client_data_kref::HARNESS,
    concurrent_srcu::HARNESS,
    mutex_unlock_free::HARNESS,
    state_in_sysfs::HARNESS,
];

/// Every harness.
pub fn all() -> &'static [Harness] {
    HARNESSES
}

/// The harness called `name`.
pub fn find(name: &str) -> Result<&'static Harness, Error> {
    HARNESSES
        .iter()
        .find(|h| h.name == name)
        .ok_or_else(|| Error::UnknownHarness {
            name: name.to_string(),
            known: HARNESSES.iter().map(|h| h.name).collect::<Vec<_>>().join(", "),
        })
}

/// One execution of a harness variant, as CPU0: set up, run, check for leaks.
pub(crate) fn execute(h: &'static Harness, v: &'static Variant) {
    engine::reset(ModelConfig {
        debug_mutexes: v.config.debug_mutexes,
        gp_oracle: v.config.gp_oracle,
        refetch: v.config.refetch,
        kcsan: v.config.kcsan,
    });
    match h.body {
        Body::Variants(f) => f(v.name),
        Body::Plain(f) => f(),
    }
    engine::check_leaks();
}
