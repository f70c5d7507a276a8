use super::{CpuId, NextStep, Pct, Strategy, UniformWalk};

/// PCT and the uniform walk taking turns, one execution each.
///
/// The two fail on opposite bugs. PCT (priorities, few change points) is good at long stalls: a
/// CPU that stops for the whole of another CPU's grace period and teardown, as a reader must for
/// a use-after-free after `synchronize_srcu` returned. It is poor when a bug needs several
/// one-step windows, since each costs a change point on the exact step. The uniform walk is the
/// reverse: it makes every interleaving about equally likely, so fine-grained ones are cheap and
/// long stalls rare. Alternating costs each at most half its executions and finds both kinds.
#[derive(Clone, Debug)]
pub struct Portfolio {
    pct: Pct,
    uniform: UniformWalk,
    /// Whether the current execution is PCT's.
    pct_turn: bool,
}

impl Portfolio {
    /// PCT of bug depth `depth` and the uniform walk, both seeded from `seed`.
    pub fn new(depth: u32, seed: u64) -> Self {
        Portfolio {
            pct: Pct::new(depth, seed),
            uniform: UniformWalk::new(seed),
            pct_turn: false,
        }
    }

    fn current(&mut self) -> &mut dyn Strategy {
        if self.pct_turn {
            &mut self.pct
        } else {
            &mut self.uniform
        }
    }
}

impl Strategy for Portfolio {
    fn new_execution(&mut self) {
        self.pct_turn = !self.pct_turn;
        self.current().new_execution()
    }

    fn next_cpu(&mut self, runnable: &[CpuId], current: Option<CpuId>, next: NextStep) -> Option<CpuId> {
        self.current().next_cpu(runnable, current, next)
    }

    fn next_u64(&mut self) -> u64 {
        self.current().next_u64()
    }
}
