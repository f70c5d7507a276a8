//! Fixed-size vector clocks.
//!
//! A harness has at most [`MAX_CPUS`] CPUs, so a clock is a plain array: `Copy`, no allocation on
//! the hot path, and a join is a handful of `max` instructions.

/// Most CPUs an execution may have, the setup CPU (CPU0) included.
pub const MAX_CPUS: usize = 8;

/// A vector clock: entry `c` is the latest event of CPU `c` that happens-before the owner's next
/// event. Entries start at 0, meaning "nothing of that CPU".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VClock(pub [u32; MAX_CPUS]);

impl VClock {
    /// Pointwise maximum: after `a.join(&b)`, everything ordered before `b` is ordered before `a`.
    #[inline]
    pub fn join(&mut self, other: &VClock) {
        for (a, b) in self.0.iter_mut().zip(other.0.iter()) {
            *a = (*a).max(*b);
        }
    }
}
