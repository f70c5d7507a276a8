use super::{CpuId, NextStep, Pct, SplitMix64, Strategy, UniformWalk};

/// PCT and the uniform walk taking turns: every other execution is the uniform walk's, and PCT's
/// turns alternate between bug depth `depth` and `depth + 1`.
///
/// The two fail on opposite bugs. PCT (priorities, few change points) is good at long stalls: a
/// CPU that stops for the whole of another CPU's grace period and teardown, as a reader must for
/// a use-after-free after `synchronize_srcu` returned. It is poor when a bug needs several
/// one-step windows, since each costs a change point on the exact step. The uniform walk is the
/// reverse: it makes every interleaving about equally likely, so fine-grained ones are cheap and
/// long stalls rare. A bug's depth is not known in advance, and PCT's odds drop by a factor of
/// `k` for each change point too many or too few, so two neighbouring depths share its turns.
#[derive(Clone, Debug)]
pub struct Portfolio {
    pct: Pct,
    deeper: Pct,
    uniform: UniformWalk,
    /// Executions begun: selects whose turn it is.
    turn: u64,
}

impl Portfolio {
    /// PCT of bug depths `depth` and `depth + 1` and the uniform walk, seeded from `seed`.
    pub fn new(depth: u32, seed: u64) -> Self {
        Self::from_seeds(depth, &mut SplitMix64::new(seed))
    }

    /// The same, its strategies seeded from the next three numbers of `seeds`: the guided
    /// strategy starts from the same generator, so that its first executions are exactly
    /// `portfolio`'s for the same seed ([`super::Guided`]).
    pub(crate) fn from_seeds(depth: u32, seeds: &mut SplitMix64) -> Self {
        Portfolio {
            pct: Pct::new(depth, seeds.next_u64()),
            deeper: Pct::new(depth + 1, seeds.next_u64()),
            uniform: UniformWalk::new(seeds.next_u64()),
            turn: 0,
        }
    }

    fn current(&mut self) -> &mut dyn Strategy {
        match self.turn % 4 {
            1 => &mut self.pct,
            3 => &mut self.deeper,
            _ => &mut self.uniform,
        }
    }
}

impl Strategy for Portfolio {
    fn new_execution(&mut self) -> bool {
        self.turn += 1;
        self.current().new_execution()
    }

    fn next_cpu(&mut self, runnable: &[CpuId], current: Option<CpuId>, next: NextStep) -> Option<CpuId> {
        self.current().next_cpu(runnable, current, next)
    }

    fn next_read(&mut self, choices: usize) -> usize {
        self.current().next_read(choices)
    }
}
