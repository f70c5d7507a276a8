use super::{CpuId, NextStep, SplitMix64, Strategy};

/// A random walk: at every shared step, a uniformly random runnable CPU. A spinning CPU is
/// passed over when another CPU can run, so spin loops do not eat the step budget; a CPU about
/// to take a local step keeps running, since switching there changes nothing.
#[derive(Clone, Debug)]
pub struct RandomWalk {
    rng: SplitMix64,
}

impl RandomWalk {
    /// A random walk seeded with `seed`: the same seed explores the same executions.
    pub fn new(seed: u64) -> Self {
        RandomWalk {
            rng: SplitMix64::new(seed),
        }
    }
}

impl Strategy for RandomWalk {
    fn new_execution(&mut self) -> bool {
        true
    }

    fn next_cpu(&mut self, runnable: &[CpuId], current: Option<CpuId>, next: NextStep) -> Option<CpuId> {
        if next == NextStep::Local {
            if let Some(cur) = current.filter(|c| runnable.contains(c)) {
                return Some(cur);
            }
        }
        if next == NextStep::Spin && runnable.len() > 1 {
            if let Some(cur) = current {
                let i = self.rng.below(runnable.len() - 1);
                let pick = runnable.iter().copied().filter(|&c| c != cur).nth(i);
                return pick.or(Some(runnable[0]));
            }
        }
        Some(runnable[self.rng.below(runnable.len())])
    }

    fn next_read(&mut self, choices: usize) -> usize {
        self.rng.read_choice(choices)
    }
}
