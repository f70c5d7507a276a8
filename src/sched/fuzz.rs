use arbitrary::{Arbitrary, Unstructured};

use super::{CpuId, NextStep, Pct, Strategy};
use crate::engine::vclock::MAX_CPUS;

/// Priority change points read from one input, at most; later bytes are ignored. Sixteen is PCT
/// depth 17, far beyond the depth of any race we model (`mutex_unlock_free` has depth 3).
pub const MAX_CHANGE_POINTS: usize = 16;

/// A fuzzer's input, decoded: the random choices of one PCT execution (Burckhardt et al., ASPLOS
/// 2010), read from bytes instead of drawn.
///
/// The layout makes a short input a strong schedule: 8 bytes give every CPU a priority, and each
/// further 2 bytes add a change point, so 12 bytes already describe a depth-3 PCT schedule. A
/// change point is a fraction of the execution (`1/65536`ths of the harness's length, see
/// [`FuzzSchedule::new`]), so that a small mutation moves it a few steps, and any value lands
/// inside the execution.
///
/// Decoding is [`Arbitrary`]'s, the same in a `fuzz_target!` as in [`FuzzInput::decode`]: any
/// byte string is an input (missing bytes read as zero), which is what lets `kgrace replay` take
/// libFuzzer's raw artifacts.
#[derive(Arbitrary, Clone, Debug, Default, PartialEq, Eq)]
pub struct FuzzInput {
    /// Initial priority of each CPU (index: CPU id); ties go to the lower CPU.
    pub priorities: Priorities,
    /// Where the running CPU drops below every CPU, as fractions of the execution.
    pub change_points: ChangePoints,
}

/// CPUs whose initial priority an input gives: the input format (and every corpus and trace made
/// with it) fixes it at the 8 CPUs kgrace had when it was designed. CPUs past them start at the
/// priority of a zero byte.
pub const FUZZ_PRIORITY_CPUS: usize = 8;

/// One priority byte per CPU, for the first [`FUZZ_PRIORITY_CPUS`]. Bytes past the end of the
/// input read as 0, and the size hint says so: with `[u8; 8]`'s hint of 8, `fuzz_target!` would
/// reject every input shorter than 8 bytes unexecuted, a share of libFuzzer's runs spent on
/// nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Priorities(pub [u8; FUZZ_PRIORITY_CPUS]);

impl<'a> Arbitrary<'a> for Priorities {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        <[u8; FUZZ_PRIORITY_CPUS]>::arbitrary(u).map(Priorities)
    }
    fn size_hint(_depth: usize) -> (usize, Option<usize>) {
        (0, Some(FUZZ_PRIORITY_CPUS))
    }
}

/// Change points, two bytes each, big-endian (the first byte places it coarsely). As the last
/// field they take every remaining byte: `Vec<u16>`'s own decoding would spend a "keep going"
/// byte before each element, and a mutation of that byte would cut the list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChangePoints(pub Vec<u16>);

impl<'a> Arbitrary<'a> for ChangePoints {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        Vec::<u16>::arbitrary(u).map(ChangePoints)
    }
    fn arbitrary_take_rest(u: Unstructured<'a>) -> arbitrary::Result<Self> {
        let bytes = u.take_rest();
        let points = bytes
            .chunks(2)
            .map(|c| u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)]));
        Ok(ChangePoints(points.take(MAX_CHANGE_POINTS).collect()))
    }
    fn size_hint(_depth: usize) -> (usize, Option<usize>) {
        (0, None)
    }
}

impl FuzzInput {
    /// Decode raw fuzzer bytes exactly as `fuzz_target!(|input: FuzzInput| ...)` does.
    pub fn decode(data: &[u8]) -> FuzzInput {
        // `arbitrary_take_rest` of this type cannot fail: every field takes what bytes remain.
        FuzzInput::arbitrary_take_rest(Unstructured::new(data)).unwrap_or_default()
    }
}

/// The fuzzer's strategy: PCT with its priorities and change points taken from a [`FuzzInput`].
///
/// Seeding a random scheduler with the input and running one execution per input does not work:
/// the first execution of shuttle's PCT is not random, and libFuzzer explored one schedule over
/// 34,000 inputs. Here every byte is a scheduling choice, so a mutation is a new schedule.
#[derive(Clone, Debug)]
pub struct FuzzSchedule {
    pct: Pct,
    horizon: u64,
    priorities: [i64; MAX_CPUS],
    change_points: [u64; MAX_CHANGE_POINTS],
    n_change_points: usize,
    seed: u64,
}

impl FuzzSchedule {
    /// Executions are about `horizon` scheduling steps long: change points spread over
    /// `1..=horizon`. Starts with the all-zero input.
    pub fn new(horizon: u64) -> Self {
        let mut s = FuzzSchedule {
            pct: Pct::new(1, 0),
            horizon: horizon.max(1),
            priorities: [1; MAX_CPUS],
            change_points: [0; MAX_CHANGE_POINTS],
            n_change_points: 0,
            seed: 0,
        };
        s.set_input(&FuzzInput::default());
        s
    }

    /// The schedule of the next execution (and of the ones after it, until the next call).
    pub fn set_input(&mut self, input: &FuzzInput) {
        // FNV-1a over the input: the model's value choices, if any, come from the input too.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut mix = |b: u64| h = (h ^ b).wrapping_mul(0x0100_0000_01b3);
        for (slot, &p) in self.priorities.iter_mut().zip(&input.priorities.0) {
            // PCT's initial priorities are positive: change points go below all of them.
            *slot = 1 + i64::from(p);
            mix(u64::from(p));
        }
        self.n_change_points = input.change_points.0.len().min(MAX_CHANGE_POINTS);
        for (slot, &c) in self.change_points.iter_mut().zip(&input.change_points.0) {
            *slot = 1 + ((u64::from(c) * self.horizon) >> 16);
            mix(u64::from(c));
        }
        self.seed = h;
    }
}

impl Strategy for FuzzSchedule {
    fn new_execution(&mut self) -> bool {
        self.pct.new_execution_from(
            self.priorities,
            &self.change_points[..self.n_change_points],
            self.seed,
        );
        true
    }

    fn next_cpu(&mut self, runnable: &[CpuId], current: Option<CpuId>, next: NextStep) -> Option<CpuId> {
        self.pct.next_cpu(runnable, current, next)
    }

    // Read choices come from the input too: the PCT generator is seeded with its hash.
    fn next_read(&mut self, choices: usize) -> usize {
        self.pct.next_read(choices)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_inputs_decode_with_zero_defaults() {
        assert_eq!(FuzzInput::decode(&[]), FuzzInput::default());
        let i = FuzzInput::decode(&[1, 2, 3, 4, 5, 6, 7, 8, 0x34, 0x12, 0xff]);
        assert_eq!(i.priorities.0, [1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(FuzzInput::decode(&[9]).priorities.0, [9, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            <FuzzInput as Arbitrary>::size_hint(0).0,
            0,
            "no input is too short"
        );
        assert_eq!(i.change_points.0, [0x3412, 0xff00]);
        let long = FuzzInput::decode(&[0; 100]);
        assert_eq!(long.change_points.0.len(), MAX_CHANGE_POINTS);
    }

    #[test]
    fn change_points_spread_over_the_horizon() {
        let mut s = FuzzSchedule::new(100);
        s.set_input(&FuzzInput {
            priorities: Priorities::default(),
            change_points: ChangePoints(vec![0, 0x8000, 0xffff]),
        });
        assert_eq!(&s.change_points[..s.n_change_points], &[1, 51, 100]);
    }

    #[test]
    fn priorities_from_the_input_decide_who_runs() {
        let mut s = FuzzSchedule::new(100);
        let mut input = FuzzInput::default();
        input.priorities.0[2] = 9;
        s.set_input(&input);
        s.new_execution();
        assert_eq!(s.next_cpu(&[1, 2], None, NextStep::SHARED), Some(2));
        input.priorities.0[1] = 10;
        s.set_input(&input);
        s.new_execution();
        assert_eq!(s.next_cpu(&[1, 2], None, NextStep::SHARED), Some(1));
    }
}
