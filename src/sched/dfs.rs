use super::{CpuId, NextStep, Strategy};

/// Exhaustive depth-first search over every decision of an execution: which CPU runs at each
/// scheduling point and, under `lkmm`, which store each load reads, with at most `preemptions`
/// preemptions per execution (Musuvathi and Qadeer's iterative context bounding, PLDI 2007: most
/// concurrency bugs need very few). When [`Strategy::new_execution`] returns false, every
/// execution within the bound has run: a variant that passed is proved for that bound, the way
/// loom users expect.
///
/// Executions are deterministic, so each one replays the prefix of the previous one and then
/// takes the next untried choice at the deepest point that has one (loom's approach).
///
/// What is not a branch: a step the engine calls local (it commutes with every other CPU's steps,
/// see [`NextStep::Local`]), and staying on a spinning CPU when another can run (a spin makes no
/// progress until another CPU does, so running it again only repeats a state).
#[derive(Clone, Debug)]
pub struct Dfs {
    bound: Option<u32>,
    /// The current path: per branching decision, the option taken and how many there were.
    path: Vec<(u32, u32)>,
    /// Decisions of this execution so far that branched.
    pos: usize,
    preemptions: u32,
    started: bool,
    /// Reused for every decision: the options in the order they are tried.
    options: Vec<CpuId>,
}

impl Dfs {
    /// Explore every execution with at most `preemptions` preemptions (`None`: no bound).
    pub fn new(preemptions: Option<u32>) -> Self {
        Dfs {
            bound: preemptions,
            path: Vec::with_capacity(256),
            pos: 0,
            preemptions: 0,
            started: false,
            options: Vec::with_capacity(8),
        }
    }

    /// The option to take at a decision with `n` options.
    fn choose(&mut self, n: usize) -> usize {
        if n <= 1 {
            return 0;
        }
        let chosen = if self.pos < self.path.len() {
            // Replaying the prefix: the same state offers the same options.
            let (c, _) = self.path[self.pos];
            (c as usize).min(n - 1)
        } else {
            self.path.push((0, n as u32));
            0
        };
        self.pos += 1;
        chosen
    }
}

impl Strategy for Dfs {
    fn new_execution(&mut self) -> bool {
        self.pos = 0;
        self.preemptions = 0;
        if !self.started {
            self.started = true;
            return true;
        }
        // The deepest decision with an untried option takes it; everything after it is new.
        while let Some((c, n)) = self.path.last_mut() {
            if *c + 1 < *n {
                *c += 1;
                return true;
            }
            self.path.pop();
        }
        false
    }

    fn next_cpu(&mut self, runnable: &[CpuId], current: Option<CpuId>, next: NextStep) -> Option<CpuId> {
        let cur = current.filter(|c| runnable.contains(c));
        self.options.clear();
        match (cur, next) {
            (Some(c), NextStep::Local | NextStep::Spawn) => return Some(c),
            (Some(c), NextStep::Spin) => {
                self.options.extend(runnable.iter().copied().filter(|&o| o != c));
                if self.options.is_empty() {
                    return Some(c);
                }
            }
            (Some(c), NextStep::Shared { .. }) => {
                if self.bound.is_some_and(|b| self.preemptions >= b) {
                    return Some(c);
                }
                self.options.push(c);
                self.options.extend(runnable.iter().copied().filter(|&o| o != c));
            }
            (None, _) => self.options.extend_from_slice(runnable),
        }
        let i = self.choose(self.options.len());
        let pick = self.options[i];
        if cur.is_some_and(|c| c != pick) && next.is_shared() {
            self.preemptions += 1;
        }
        Some(pick)
    }

    fn next_read(&mut self, choices: usize) -> usize {
        self.choose(choices)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two CPUs, two shared steps each, after CPU0 (which only spawns): every interleaving is
    /// visited once, and then the search says it is done.
    #[test]
    fn visits_every_interleaving_once() {
        let mut d = Dfs::new(None);
        let mut seen = std::collections::BTreeSet::new();
        while d.new_execution() {
            let mut left = [2u32, 2];
            let mut order = Vec::new();
            let mut cur = None;
            while left.iter().any(|&l| l > 0) {
                let runnable: Vec<CpuId> = (1..=2).filter(|&c| left[c - 1] > 0).collect();
                let c = d.next_cpu(&runnable, cur, NextStep::SHARED).unwrap();
                left[c - 1] -= 1;
                order.push(c);
                cur = Some(c);
            }
            assert!(seen.insert(order), "an interleaving was visited twice");
        }
        // C(4, 2) interleavings of two sequences of two steps.
        assert_eq!(seen.len(), 6);
    }

    #[test]
    fn the_preemption_bound_prunes() {
        let count = |bound| {
            let mut d = Dfs::new(bound);
            let mut n = 0;
            while d.new_execution() {
                n += 1;
                let mut left = [3u32, 3];
                let mut cur = None;
                while left.iter().any(|&l| l > 0) {
                    let runnable: Vec<CpuId> = (1..=2).filter(|&c| left[c - 1] > 0).collect();
                    let c = d.next_cpu(&runnable, cur, NextStep::SHARED).unwrap();
                    left[c - 1] -= 1;
                    cur = Some(c);
                }
            }
            n
        };
        assert_eq!(count(None), 20);
        // No preemption: only who starts is a choice.
        assert_eq!(count(Some(0)), 2);
        assert!(count(Some(1)) < 20);
    }

    #[test]
    fn read_choices_are_branches() {
        let mut d = Dfs::new(None);
        let mut reads = Vec::new();
        while d.new_execution() {
            reads.push((d.next_read(3), d.next_read(2)));
        }
        assert_eq!(reads, vec![(0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (2, 1)]);
    }
}
