use super::{CpuId, NextStep, SplitMix64, Strategy};
use crate::engine::vclock::MAX_CPUS;

/// A uniform random walk over interleavings: at each shared step, a runnable CPU is picked with
/// probability proportional to the shared steps it still has to take, so that every interleaving
/// of the CPUs' steps is about equally likely. This is the sampling of SURW (Zhao, Wolff,
/// Mathur and Roychoudhury, "Selectively Uniform Concurrency Testing", ASPLOS 2025), here over
/// the steps the engine marks shared ([`NextStep::Shared`]).
///
/// A plain random walk picks uniformly among CPUs instead, which favours interleavings where a
/// short CPU finishes early; PCT needs one change point per ordering constraint and one exact step
/// for each, which is what bugs with a one-step window and three constraints (a reader preempted
/// between loading the index and counting itself in) make expensive.
///
/// The remaining steps are not known in advance: each CPU's count is the most it took in any
/// execution so far, as SURW estimates them from earlier runs.
#[derive(Clone, Debug)]
pub struct UniformWalk {
    rng: SplitMix64,
    /// Shared steps each CPU took in this execution.
    taken: [u32; MAX_CPUS],
    /// Invariant: `expected[c] >= 1`; the most shared steps CPU `c` took in any execution.
    expected: [u32; MAX_CPUS],
}

impl UniformWalk {
    /// A uniform walk seeded with `seed`: the same seed explores the same executions.
    pub fn new(seed: u64) -> Self {
        UniformWalk {
            rng: SplitMix64::new(seed),
            taken: [0; MAX_CPUS],
            expected: [1; MAX_CPUS],
        }
    }

    fn remaining(&self, c: CpuId) -> u64 {
        u64::from(self.expected[c].saturating_sub(self.taken[c]).max(1))
    }
}

impl Strategy for UniformWalk {
    fn new_execution(&mut self) {
        for c in 0..MAX_CPUS {
            self.expected[c] = self.expected[c].max(self.taken[c]);
        }
        self.taken = [0; MAX_CPUS];
    }

    fn next_cpu(&mut self, runnable: &[CpuId], current: Option<CpuId>, next: NextStep) -> Option<CpuId> {
        let cur_runnable = current.filter(|c| runnable.contains(c));
        if next == NextStep::Local {
            if let Some(cur) = cur_runnable {
                return Some(cur);
            }
        }
        let skip = if next == NextStep::Spin && runnable.len() > 1 {
            cur_runnable
        } else {
            None
        };
        let total: u64 = runnable
            .iter()
            .filter(|&&c| Some(c) != skip)
            .map(|&c| self.remaining(c))
            .sum();
        let mut pick = self.rng.next_u64() % total.max(1);
        let mut chosen = runnable[0];
        for &c in runnable.iter().filter(|&&c| Some(c) != skip) {
            let w = self.remaining(c);
            if pick < w {
                chosen = c;
                break;
            }
            pick -= w;
        }
        self.taken[chosen] += 1;
        Some(chosen)
    }

    fn next_u64(&mut self) -> u64 {
        self.rng.next_u64()
    }
}
