use super::{CpuId, Decision, NextStep, Strategy};

/// Re-runs recorded decisions, and notes the first point where the execution no longer fits them.
#[derive(Clone, Debug)]
pub struct Replay {
    decisions: Vec<Decision>,
    next: usize,
    divergence: Option<Divergence>,
}

/// Where and how a replayed execution left its trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Divergence {
    /// Index of the decision (scheduling point) where the run stopped fitting the trace.
    pub decision: usize,
    /// What went wrong, in words.
    pub reason: String,
}

impl Replay {
    /// Replay `decisions` in order.
    pub fn new(decisions: Vec<Decision>) -> Self {
        Replay {
            decisions,
            next: 0,
            divergence: None,
        }
    }

    /// How the run diverged, if it did. A run that ends before using every decision has
    /// diverged too; [`Replay::finish`] checks that.
    pub fn divergence(&self) -> Option<&Divergence> {
        self.divergence.as_ref()
    }

    /// Call when the execution is over: unused decisions mean the run ended early.
    pub fn finish(&mut self) -> Option<&Divergence> {
        if self.divergence.is_none() && self.next < self.decisions.len() {
            self.divergence = Some(Divergence {
                decision: self.next,
                reason: format!(
                    "the execution ended after {} of the trace's {} decisions",
                    self.next,
                    self.decisions.len()
                ),
            });
        }
        self.divergence.as_ref()
    }

    fn diverge(&mut self, reason: String) {
        if self.divergence.is_none() {
            self.divergence = Some(Divergence {
                decision: self.next,
                reason,
            });
        }
    }
}

impl Strategy for Replay {
    fn new_execution(&mut self) -> bool {
        self.next = 0;
        true
    }

    fn next_cpu(&mut self, runnable: &[CpuId], _current: Option<CpuId>, _next: NextStep) -> Option<CpuId> {
        if self.divergence.is_some() {
            return None;
        }
        match self.decisions.get(self.next).copied() {
            Some(Decision::Cpu(c)) if runnable.contains(&c) => {
                self.next += 1;
                Some(c)
            }
            Some(Decision::Cpu(c)) => {
                self.diverge(format!("the trace runs CPU{c}, but only {runnable:?} can run"));
                None
            }
            Some(Decision::Read { .. } | Decision::Value { .. }) => {
                self.diverge("the trace has a read choice where the execution schedules a CPU".into());
                None
            }
            None => {
                self.diverge(format!(
                    "the trace ends after {} decisions, but the execution goes on",
                    self.decisions.len()
                ));
                None
            }
        }
    }

    fn next_read(&mut self, choices: usize) -> usize {
        match self.decisions.get(self.next).copied() {
            Some(Decision::Read { read }) if (read as usize) < choices => {
                self.next += 1;
                read as usize
            }
            Some(Decision::Read { read }) => {
                self.diverge(format!(
                    "the trace's load reads the store {read} back from the newest, but only {choices} may be read"
                ));
                0
            }
            _ => {
                self.diverge(
                    "the execution chooses which store a load reads where the trace schedules a CPU".into(),
                );
                0
            }
        }
    }
}
