use super::{CpuId, NextStep, SplitMix64, Strategy};
use crate::engine::vclock::MAX_CPUS;

/// Partial order sampling: Yuan, Yang and Gu, "Partial Order Aware Concurrency Sampling", CAV
/// 2018.
///
/// Every CPU's pending step carries a random priority, and the runnable CPU whose pending step
/// has the highest priority runs. When a step runs, the pending steps of other CPUs that race
/// with it (here: that operate on the same object, or on an object the engine does not name)
/// get fresh priorities, and so does the next step of the CPU that ran. A random walk samples
/// interleavings, and most interleavings of the same partial order look alike to the bug, so it
/// samples the common partial orders many times and the rare ones almost never; POS's
/// re-drawing makes each ordering of two racing steps about equally likely whatever else runs
/// between them, which is the distribution a bug with a few racing pairs needs.
///
/// Steps the engine marks local run on without a decision, as in the other strategies; a CPU
/// that spins hands its step to another runnable CPU.
#[derive(Clone, Debug)]
pub struct Pos {
    rng: SplitMix64,
    /// Invariant: `priority[c] == 0` iff CPU `c` has no pending step drawn in this execution.
    priority: [u64; MAX_CPUS],
    /// The object of each CPU's pending step ([`NextStep::ANY_OBJECT`]: unknown).
    object: [u32; MAX_CPUS],
    /// The CPU chosen at the last decision: its pending step is the one that ran since.
    last: Option<CpuId>,
    /// One past the highest CPU seen in this execution: the CPUs the re-draw loop visits.
    cpus: usize,
}

impl Pos {
    /// Partial order sampling seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Pos {
            rng: SplitMix64::new(seed),
            priority: [0; MAX_CPUS],
            object: [NextStep::ANY_OBJECT; MAX_CPUS],
            last: None,
            cpus: 0,
        }
    }

    fn draw(&mut self) -> u64 {
        self.rng.next_u64() | 1
    }
}

/// Whether steps on objects `a` and `b` may race.
fn conflict(a: u32, b: u32) -> bool {
    a == b || a == NextStep::ANY_OBJECT || b == NextStep::ANY_OBJECT
}

impl Strategy for Pos {
    fn new_execution(&mut self) -> bool {
        self.priority = [0; MAX_CPUS];
        self.object = [NextStep::ANY_OBJECT; MAX_CPUS];
        self.last = None;
        self.cpus = 0;
        true
    }

    fn next_cpu(&mut self, runnable: &[CpuId], current: Option<CpuId>, next: NextStep) -> Option<CpuId> {
        let cur_runnable = current.filter(|c| runnable.contains(c));
        if matches!(next, NextStep::Local) && cur_runnable.is_some() {
            return cur_runnable;
        }
        let highest = runnable.iter().copied().chain(current).max().unwrap_or(0);
        self.cpus = self.cpus.max(highest + 1);
        // The step of the CPU chosen last has run: re-draw the pending steps it races with.
        if let Some(ran) = self.last {
            let obj = self.object[ran];
            for c in 0..self.cpus {
                if c != ran && self.priority[c] != 0 && conflict(obj, self.object[c]) {
                    self.priority[c] = self.draw();
                }
            }
        }
        // The running CPU's next step is a new event.
        if let Some(cur) = current {
            self.priority[cur] = self.draw();
            self.object[cur] = match next {
                NextStep::Shared { object } => object,
                _ => NextStep::ANY_OBJECT,
            };
        }
        for &c in runnable {
            if self.priority[c] == 0 {
                self.priority[c] = self.draw();
            }
        }
        let skip = (next == NextStep::Spin && runnable.len() > 1)
            .then_some(cur_runnable)
            .flatten();
        let pick = runnable
            .iter()
            .copied()
            .filter(|&c| Some(c) != skip)
            .max_by_key(|&c| self.priority[c])
            .unwrap_or(runnable[0]);
        self.last = Some(pick);
        Some(pick)
    }

    fn next_read(&mut self, choices: usize) -> usize {
        self.rng.read_choice(choices)
    }
}
