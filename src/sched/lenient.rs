use super::{CpuId, Decision, NextStep, Strategy};

/// Follows candidate decisions where they fit the execution and falls back deterministically
/// where they do not: the strategy trace minimization ([`crate::minimize`]) re-runs its
/// candidates under. Unlike [`super::Replay`], it never abandons an execution.
///
/// Every scheduling point uses up one candidate decision, whether it fits or not, so that the
/// decisions after an edited one stay aligned with the steps they were recorded for. A CPU
/// decision fits when that CPU can run; a read decision when the load has that many stores to
/// choose from. Otherwise, and once the candidate is used up, the fallback keeps the current CPU
/// running (no preemption), moves on from a spinning CPU to the next runnable one after it (a
/// spin waits for another CPU, so staying on it would only spin), starts with the lowest
/// runnable CPU, and reads the newest store.
///
/// It counts the preemptions of the execution as it goes: switches away from a CPU that could
/// have gone on and was not spinning.
#[derive(Clone, Debug, Default)]
pub struct Lenient {
    decisions: Vec<Decision>,
    next: usize,
    preemptions: Vec<usize>,
}

impl Lenient {
    /// Follow `decisions` as far as they fit.
    pub fn new(decisions: Vec<Decision>) -> Self {
        Lenient {
            decisions,
            next: 0,
            preemptions: Vec::new(),
        }
    }

    /// The preemptions of the latest execution, as indices of its decisions (every scheduling
    /// point is one decision, so they are indices into the decisions the execution took).
    pub fn preemptions(&self) -> &[usize] {
        &self.preemptions
    }

    fn take(&mut self) -> Option<Decision> {
        let d = self.decisions.get(self.next).copied();
        self.next += 1;
        d
    }
}

impl Strategy for Lenient {
    fn new_execution(&mut self) -> bool {
        self.next = 0;
        self.preemptions.clear();
        true
    }

    fn next_cpu(&mut self, runnable: &[CpuId], current: Option<CpuId>, next: NextStep) -> Option<CpuId> {
        let at = self.next;
        let cur = current.filter(|c| runnable.contains(c));
        let pick = match self.take() {
            Some(Decision::Cpu(c)) if runnable.contains(&c) => c,
            _ => match (cur, next) {
                (Some(c), NextStep::Spin) => runnable.iter().copied().find(|&o| o > c).unwrap_or(runnable[0]),
                (Some(c), _) => c,
                (None, _) => runnable[0],
            },
        };
        if cur.is_some_and(|c| c != pick) && next != NextStep::Spin {
            self.preemptions.push(at);
        }
        Some(pick)
    }

    fn next_read(&mut self, choices: usize) -> usize {
        match self.take() {
            Some(Decision::Read { read }) if (read as usize) < choices => read as usize,
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_what_fits_and_otherwise_keeps_the_current_cpu() {
        let mut l = Lenient::new(vec![Decision::Cpu(1), Decision::Cpu(5), Decision::Cpu(2)]);
        assert!(l.new_execution());
        assert_eq!(l.next_cpu(&[1, 2], None, NextStep::SHARED), Some(1));
        // CPU5 cannot run: CPU1 goes on.
        assert_eq!(l.next_cpu(&[1, 2], Some(1), NextStep::SHARED), Some(1));
        // A switch away from a runnable CPU is a preemption, at decision 2.
        assert_eq!(l.next_cpu(&[1, 2], Some(1), NextStep::SHARED), Some(2));
        assert_eq!(l.preemptions(), &[2]);
        // Used up: stay, except on a spin, which moves to the next runnable CPU.
        assert_eq!(l.next_cpu(&[1, 2], Some(2), NextStep::SHARED), Some(2));
        assert_eq!(l.next_cpu(&[1, 2], Some(2), NextStep::Spin), Some(1));
        assert_eq!(l.preemptions(), &[2]);
    }

    #[test]
    fn a_read_that_does_not_fit_reads_the_newest_store() {
        let mut l = Lenient::new(vec![Decision::Read { read: 3 }, Decision::Read { read: 1 }]);
        assert!(l.new_execution());
        assert_eq!(l.next_read(2), 0);
        assert_eq!(l.next_read(2), 1);
        assert_eq!(l.next_read(2), 0);
    }
}
