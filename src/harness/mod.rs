//! The harnesses: one module per mailing-list race, each with its variants and their expected
//! verdicts.

mod client_data_kref;
mod concurrent_srcu;
mod mutex_unlock_free;
mod notifier_partial_init;
mod state_in_sysfs;

pub use crate::config::{Config, MemoryModel};
use crate::engine;
use crate::failure::FailureKind;
use crate::Error;

/// A race from one mailing-list thread, modeled as kernel code.
#[derive(Debug)]
pub struct Harness {
    /// The harness name (`mutex_unlock_free`).
    pub name: &'static str,
    /// The thread it comes from: its number (as in `docs/README.md`) and subject.
    pub thread: &'static str,
    /// The question the thread argues, in one line.
    pub question: &'static str,
    /// The variants, the thread's posted (buggy) code first.
    pub variants: &'static [Variant],
    /// The code: [`Body::new`] of a function that runs one execution of the variant it is given.
    pub body: Body,
}

/// The code of a harness: a function run as CPU0 of every execution, given the variant's name.
///
/// It sets up the objects, spawns the CPUs, joins them and frees what is left, like the body
/// of [`Explorer::from_fn`](crate::Explorer::from_fn); its `match` on the variant name picks what
/// differs between the variants. Build it with [`Body::new`], in a `static` or `const`.
#[derive(Clone, Copy, Debug)]
pub struct Body(BodyFn);

#[derive(Clone, Copy, Debug)]
enum BodyFn {
    /// A declared harness: takes the variant name.
    Variants(fn(&'static str)),
    /// A model given to [`Explorer::from_fn`](crate::Explorer::from_fn).
    Plain(fn()),
}

impl Body {
    /// The body that runs `f(variant_name)`.
    pub const fn new(f: fn(&'static str)) -> Body {
        Body(BodyFn::Variants(f))
    }

    /// The body of [`Explorer::from_fn`](crate::Explorer::from_fn): no variants.
    pub(crate) const fn plain(f: fn()) -> Body {
        Body(BodyFn::Plain(f))
    }
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
    /// Exploration finds a failure of one of these kinds: one bug with several symptoms, the
    /// first of which depends on the interleaving and the memory model (a free that races with
    /// a reader's access, or that access after the free).
    FailsWith(&'static [FailureKind]),
    /// No failure within the budget.
    Passes,
}

impl Expected {
    /// Whether a run that ended with `failure` (`None`: clean) gets this verdict.
    pub fn matches(&self, failure: Option<FailureKind>) -> bool {
        match (self, failure) {
            (Expected::Fails(k), Some(f)) => *k == f,
            (Expected::FailsWith(ks), Some(f)) => ks.contains(&f),
            (Expected::Passes, None) => true,
            _ => false,
        }
    }

    /// Whether this verdict is a failure.
    pub fn fails(&self) -> bool {
        *self != Expected::Passes
    }
}

impl std::fmt::Display for Expected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Expected::Fails(k) => write!(f, "fails: {k}"),
            Expected::FailsWith(ks) => {
                f.write_str("fails: ")?;
                for (i, k) in ks.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" | ")?;
                    }
                    write!(f, "{k}")?;
                }
                Ok(())
            }
            Expected::Passes => f.write_str("passes"),
        }
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
    notifier_partial_init::HARNESS,
    state_in_sysfs::HARNESS,
];

/// A lifetime bug's symptoms: the access after the free (KASAN), or, first, the free racing
/// with an access it is not ordered after (KCSAN's slab free hook).
pub(crate) const LIFETIME: &[FailureKind] = &[FailureKind::UseAfterFree, FailureKind::DataRace];

/// Every built-in harness: the registry of the `kgrace` binary.
pub fn all() -> &'static [Harness] {
    HARNESSES
}

/// The built-in harness called `name`.
pub fn find(name: &str) -> Result<&'static Harness, Error> {
    find_in(HARNESSES, name)
}

/// The harness called `name` among `harnesses` (a binary's registry, as given to
/// [`cli::main`](crate::cli::main)).
pub fn find_in(harnesses: &'static [Harness], name: &str) -> Result<&'static Harness, Error> {
    harnesses
        .iter()
        .find(|h| h.name == name)
        .ok_or_else(|| Error::UnknownHarness {
            name: name.to_string(),
            known: harnesses.iter().map(|h| h.name).collect::<Vec<_>>().join(", "),
        })
}

/// One execution of a harness variant, as CPU0: set up, run, check for leaks. `memory` is the
/// run's memory model; a variant that pins one runs under its own.
pub(crate) fn execute(h: &'static Harness, v: &'static Variant, memory: MemoryModel) {
    engine::reset(v.config, v.config.memory_for(memory));
    match h.body.0 {
        BodyFn::Variants(f) => f(v.name),
        BodyFn::Plain(f) => f(),
    }
    engine::check_leaks();
}
