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
#[derive(Clone, Debug)]
pub struct UniformWalk {
    rng: SplitMix64,
    steps: StepWeights,
}

impl UniformWalk {
    /// A uniform walk seeded with `seed`: the same seed explores the same executions.
    pub fn new(seed: u64) -> Self {
        UniformWalk {
            rng: SplitMix64::new(seed),
            steps: StepWeights::new(),
        }
    }
}

impl Strategy for UniformWalk {
    fn new_execution(&mut self) -> bool {
        self.steps.new_execution();
        true
    }

    fn next_cpu(&mut self, runnable: &[CpuId], current: Option<CpuId>, next: NextStep) -> Option<CpuId> {
        let cur_runnable = current.filter(|c| runnable.contains(c));
        if next == NextStep::Local && cur_runnable.is_some() {
            return cur_runnable;
        }
        let skip = (next == NextStep::Spin && runnable.len() > 1)
            .then_some(cur_runnable)
            .flatten();
        let chosen = self
            .steps
            .pick(
                &mut self.rng,
                runnable.iter().copied().filter(|&c| Some(c) != skip),
            )
            .unwrap_or(runnable[0]);
        self.steps.took(chosen);
        Some(chosen)
    }

    fn next_read(&mut self, choices: usize) -> usize {
        self.rng.read_choice(choices)
    }
}

/// Each CPU's shared steps in this execution, and an estimate of its total: the weights of a
/// uniform pick among interleavings. The totals are not known in advance; each is the most the
/// CPU took in any execution so far, as SURW estimates them from earlier runs.
#[derive(Clone, Debug)]
pub(super) struct StepWeights {
    taken: [u32; MAX_CPUS],
    /// Invariant: `expected[c] >= 1`.
    expected: [u32; MAX_CPUS],
}

impl StepWeights {
    pub(super) fn new() -> Self {
        StepWeights {
            taken: [0; MAX_CPUS],
            expected: [1; MAX_CPUS],
        }
    }

    pub(super) fn new_execution(&mut self) {
        for c in 0..MAX_CPUS {
            self.expected[c] = self.expected[c].max(self.taken[c]);
        }
        self.taken = [0; MAX_CPUS];
    }

    fn remaining(&self, c: CpuId) -> u64 {
        u64::from(self.expected[c].saturating_sub(self.taken[c]).max(1))
    }

    /// One of `candidates`, with probability proportional to the steps it has left; `None` if
    /// there are none.
    pub(super) fn pick(
        &self,
        rng: &mut SplitMix64,
        candidates: impl Iterator<Item = CpuId> + Clone,
    ) -> Option<CpuId> {
        let total: u64 = candidates.clone().map(|c| self.remaining(c)).sum();
        if total == 0 {
            return None;
        }
        let mut pick = rng.next_u64() % total;
        for c in candidates {
            let w = self.remaining(c);
            if pick < w {
                return Some(c);
            }
            pick -= w;
        }
        None
    }

    pub(super) fn took(&mut self, c: CpuId) {
        self.taken[c] += 1;
    }
}
