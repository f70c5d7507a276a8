//! What a failing execution reports.

use serde::{Deserialize, Serialize};

/// The kind of a failure: what broke.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum FailureKind {
    /// An access to a freed object (KASAN's use-after-free).
    UseAfterFree,
    /// A second `kfree` of one object.
    DoubleFree,
    /// `kfree` of something that is not a live heap object.
    InvalidFree,
    /// An access through NULL, a poisoned pointer, or out of bounds.
    NullDeref,
    /// Heap objects still allocated when the execution ended (kmemleak).
    Leak,
    /// Conflicting accesses unordered by happens-before, at least one plain (KCSAN).
    DataRace,
    /// A `BUG_ON`/`WARN_ON` oracle of the harness.
    Bug,
    /// A `synchronize_srcu` returned while a reader that entered before it was invoked was still
    /// inside its read-side critical section (the grace-period guarantee).
    GracePeriodViolation,
    /// Every CPU blocked.
    Deadlock,
    /// No end within the step budget while some CPU could still run.
    Livelock,
}

impl FailureKind {
    /// The kebab-case name used in traces and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            FailureKind::UseAfterFree => "use-after-free",
            FailureKind::DoubleFree => "double-free",
            FailureKind::InvalidFree => "invalid-free",
            FailureKind::NullDeref => "null-deref",
            FailureKind::Leak => "leak",
            FailureKind::DataRace => "data-race",
            FailureKind::Bug => "bug",
            FailureKind::GracePeriodViolation => "grace-period-violation",
            FailureKind::Deadlock => "deadlock",
            FailureKind::Livelock => "livelock",
        }
    }
}

impl std::fmt::Display for FailureKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A failing execution's report, in the words of the kernel tool that would have caught it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// What broke.
    pub kind: FailureKind,
    /// The model step of the failing operation (steps count modeled operations from 1).
    pub step: u64,
    /// The CPU that failed, as `CPU2 hmm_notifier_release`.
    pub cpu: String,
    /// The kernel functions the CPU was in, innermost first (`spin_lock`,
    /// `__mutex_unlock_slowpath`, `mutex_unlock`, `hmm_mirror_destroy`, ...).
    #[serde(default)]
    pub call_trace: Vec<String>,
    /// The report, KASAN/KCSAN style.
    pub message: String,
}

impl Failure {
    /// Whether the failing CPU was inside the kernel function `func`.
    pub fn inside(&self, func: &str) -> bool {
        self.call_trace.iter().any(|f| f == func)
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.message)
    }
}
