use super::{CpuId, NextStep, SplitMix64, Strategy};
use crate::engine::vclock::MAX_CPUS;

/// Probabilistic Concurrency Testing: Burckhardt, Kothari, Musuvathi and Nagarakatte, "A
/// Randomized Scheduler with Probabilistic Guarantees of Finding Bugs", ASPLOS 2010.
///
/// Every CPU gets a random priority when it first appears, above `depth`. The highest-priority
/// runnable CPU always runs. At `depth - 1` random steps of the execution (the change points) the
/// running CPU's priority drops below every priority given so far.
/// A bug of depth `d` (one that needs `d` ordering constraints) is then found in each execution
/// with probability at least `1 / (n * k^(d-1))` for `n` CPUs and `k` steps.
///
/// Steps are counted only where the running CPU is about to take a shared step
/// ([`NextStep::Shared`]): a local step commutes with every other CPU's, so a change point there
/// is the same as one at the CPU's next shared step. This is the partial-order argument behind
/// Cuzz's choice of placing priority changes only at synchronization operations (Musuvathi et
/// al.'s follow-up to the paper), and it makes `k` the number of steps that can matter: a harness
/// whose CPUs initialize private objects, allocate and fence does not dilute its change points.
///
/// `k` is not known in advance: like shuttle's and Coyote's implementations, this one uses the
/// longest execution seen so far. Change points move the running CPU to the bottom of the current
/// priority order, as in Coyote's implementation.
///
/// Spinning needs a choice the paper leaves open (it assumes no spin loops). A CPU that spins
/// (`yielding`) hands this one step to the best other runnable CPU and keeps its priority: on real
/// hardware the CPU it waits for runs in parallel, one spin at a time. Demoting the spinner to the
/// bottom instead (shuttle's and Coyote's choice) makes it lose every later race against the CPU it
/// waits on: the window where a lock holder is preempted right after releasing (the window of
/// `mutex_unlock_free`) then costs one more change point, a whole factor of `k`.
#[derive(Clone, Debug)]
pub struct Pct {
    depth: u32,
    rng: SplitMix64,
    /// Invariant: initial priorities are positive; each lowered one is below every priority
    /// given before it. `i64::MIN` marks a CPU not seen yet in this execution.
    priorities: [i64; MAX_CPUS],
    /// Sorted steps at which the running CPU is deprioritized; 0 once used.
    change_points: Vec<u64>,
    /// The last priority given by a change point; decreases, so the CPU lowered last runs last.
    next_low: i64,
    step: u64,
    max_steps_seen: u64,
    /// Whether change points favour early steps ([`Pct::early`]).
    early: bool,
}

impl Pct {
    /// PCT with bug depth `depth` (at least 1), seeded with `seed`.
    pub fn new(depth: u32, seed: u64) -> Self {
        Pct {
            depth: depth.max(1),
            rng: SplitMix64::new(seed),
            priorities: [i64::MIN; MAX_CPUS],
            change_points: Vec::with_capacity(depth as usize),
            next_low: 0,
            step: 0,
            max_steps_seen: 0,
            early: false,
        }
    }

    /// PCT whose change points are, half of them, drawn log-uniformly (a step below 2, 4, 8, ...
    /// up to the execution's length, each scale equally likely) instead of uniformly. A common
    /// bug shape is a CPU preempted a few steps after it starts (a check made before a lock, a
    /// pointer cached at entry) for the whole of another CPU's long path: PCT finds it only when
    /// a change point falls on one of those few early steps among `k`, while here about one
    /// change point in `2 log2 k` lands below any small step count.
    pub fn early(depth: u32, seed: u64) -> Self {
        Pct {
            early: true,
            ..Pct::new(depth, seed)
        }
    }

    /// Start an execution with these priorities and change points instead of drawn ones, and
    /// `seed` for the values: the fuzzer's schedule ([`super::FuzzSchedule`]) is PCT with its
    /// randomness read from the input.
    pub(crate) fn new_execution_from(
        &mut self,
        priorities: [i64; MAX_CPUS],
        change_points: &[u64],
        seed: u64,
    ) {
        self.rng = SplitMix64::new(seed);
        self.priorities = priorities;
        self.change_points.clear();
        self.change_points.extend_from_slice(change_points);
        self.change_points.sort_unstable();
        self.next_low = 0;
        self.step = 0;
    }

    /// Scheduling steps of the current (or last) execution.
    pub(crate) fn steps(&self) -> u64 {
        self.step
    }
}

/// Executions before the first are assumed this long, to place the first change points.
const INITIAL_STEP_ESTIMATE: u64 = 64;

impl Strategy for Pct {
    fn new_execution(&mut self) -> bool {
        self.max_steps_seen = self.max_steps_seen.max(self.step);
        let k = if self.max_steps_seen == 0 {
            INITIAL_STEP_ESTIMATE
        } else {
            self.max_steps_seen
        };
        self.priorities = [i64::MIN; MAX_CPUS];
        self.change_points.clear();
        for _ in 1..self.depth {
            if self.early && self.rng.next_u64() & 1 == 0 {
                let bits = 64 - k.leading_zeros() as usize;
                let scale = 1u64 << self.rng.below(bits + 1);
                self.change_points.push(1 + self.rng.next_u64() % scale.min(k));
            } else {
                self.change_points.push(1 + self.rng.next_u64() % k);
            }
        }
        self.change_points.sort_unstable();
        self.next_low = 0;
        self.step = 0;
        true
    }

    fn next_cpu(&mut self, runnable: &[CpuId], current: Option<CpuId>, next: NextStep) -> Option<CpuId> {
        for &c in runnable {
            if self.priorities[c] == i64::MIN {
                self.priorities[c] = 1 + (self.rng.next_u64() >> 33) as i64;
            }
        }
        if let Some(cur) = current.filter(|_| next != NextStep::Local) {
            self.step += 1;
            // Several change points may fall on one step; each lowers the running CPU once more.
            let mut lower = false;
            while let Some(pos) = self.change_points.iter().position(|&s| s == self.step) {
                self.change_points[pos] = 0;
                lower = true;
            }
            if lower {
                self.next_low -= 1;
                self.priorities[cur] = self.next_low;
            }
        }
        let skip = if next == NextStep::Spin && runnable.len() > 1 {
            current
        } else {
            None
        };
        runnable
            .iter()
            .copied()
            .filter(|&c| Some(c) != skip)
            .max_by_key(|&c| (self.priorities[c], std::cmp::Reverse(c)))
    }

    fn next_read(&mut self, choices: usize) -> usize {
        self.rng.read_choice(choices)
    }
}
