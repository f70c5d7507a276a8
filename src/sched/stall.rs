use super::uniform::StepWeights;
use super::{CpuId, NextStep, SplitMix64, Strategy};
use crate::engine::vclock::MAX_CPUS;

/// The uniform walk with PCT's stalls: among the CPUs that are not stalled, the next one is
/// picked with probability proportional to the shared steps it has left (as in
/// [`UniformWalk`](super::UniformWalk)); at `depth - 1` random shared steps the running CPU is
/// stalled, and runs again only when no unstalled CPU can (as a PCT change point lowers it below
/// every other, Burckhardt et al., ASPLOS 2010).
///
/// The uniform part makes fine-grained interleavings cheap (several one-step windows); the stalls
/// make the long ones reachable (a reader stopped for a whole grace period and teardown), which a
/// uniform walk almost never produces.
#[derive(Clone, Debug)]
pub struct UniformStall {
    depth: u32,
    rng: SplitMix64,
    steps: StepWeights,
    /// 0 for a CPU not stalled; otherwise the order of its stall, later stalls lower.
    stalled: [u32; MAX_CPUS],
    stalls: u32,
    change_points: Vec<u64>,
    step: u64,
    max_steps_seen: u64,
}

impl UniformStall {
    /// Stalls at `depth - 1` points per execution, seeded with `seed`.
    pub fn new(depth: u32, seed: u64) -> Self {
        UniformStall {
            depth: depth.max(1),
            rng: SplitMix64::new(seed),
            steps: StepWeights::new(),
            stalled: [0; MAX_CPUS],
            stalls: 0,
            change_points: Vec::with_capacity(depth as usize),
            step: 0,
            max_steps_seen: 0,
        }
    }
}

impl Strategy for UniformStall {
    fn new_execution(&mut self) -> bool {
        self.steps.new_execution();
        self.stalled = [0; MAX_CPUS];
        self.stalls = 0;
        self.max_steps_seen = self.max_steps_seen.max(self.step);
        let k = self.max_steps_seen.max(16);
        self.change_points.clear();
        for _ in 1..self.depth {
            self.change_points.push(1 + self.rng.next_u64() % k);
        }
        self.step = 0;
        true
    }

    fn next_cpu(&mut self, runnable: &[CpuId], current: Option<CpuId>, next: NextStep) -> Option<CpuId> {
        let cur_runnable = current.filter(|c| runnable.contains(c));
        if next == NextStep::Local {
            if let Some(cur) = cur_runnable {
                return Some(cur);
            }
        }
        if let Some(cur) = current.filter(|_| next != NextStep::Local) {
            self.step += 1;
            if self.change_points.contains(&self.step) {
                self.stalls += 1;
                self.stalled[cur] = self.stalls;
            }
        }
        let skip = if next == NextStep::Spin && runnable.len() > 1 {
            cur_runnable
        } else {
            None
        };
        let candidates = || runnable.iter().copied().filter(move |&c| Some(c) != skip);
        // Unstalled CPUs first; if all are stalled, the one stalled first (PCT's order).
        let stalled = self.stalled;
        let chosen = self
            .steps
            .pick(&mut self.rng, candidates().filter(move |&c| stalled[c] == 0))
            .or_else(|| candidates().min_by_key(|&c| self.stalled[c]))
            .unwrap_or(runnable[0]);
        self.steps.took(chosen);
        Some(chosen)
    }

    fn next_read(&mut self, choices: usize) -> usize {
        self.rng.read_choice(choices)
    }
}
