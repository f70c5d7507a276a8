//! kgrace: a deterministic concurrency fuzzer for kernel-style synchronization.
#![deny(missing_docs, missing_debug_implementations, rust_2018_idioms)]

mod engine;
pub mod explore;
mod failure;
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
