/// SplitMix64 (Steele, Lea and Flood, OOPSLA 2014): tiny, fast, and the same numbers on every
/// platform and every version of kgrace, which a seed-based reproducer needs and `rand` does not
/// promise.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Which of `choices` stores a load reads (0: the newest): the newest three times in four,
    /// else any older one uniformly. Stale reads are what weak memory adds; mostly reading the
    /// newest keeps the interleaving bugs about as easy to find as under `sc`.
    pub fn read_choice(&mut self, choices: usize) -> usize {
        if choices <= 1 || self.next_u64() & 3 != 0 {
            0
        } else {
            1 + self.below(choices - 1)
        }
    }

    /// A number in `0..n` (`n > 0`), by Lemire's multiply-shift (bias below 2^-32 for small `n`).
    pub fn below(&mut self, n: usize) -> usize {
        (((self.next_u64() >> 32) * n as u64) >> 32) as usize
    }
}
