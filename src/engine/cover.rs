//! Interleaving coverage for the fuzzer: which store each load read from.
//!
//! Code coverage barely moves on straight-line harness code: every interleaving runs the same
//! lines. Reads-from pairs do move: RFF (Wolff et al., "Greybox Fuzzing for Concurrency Testing",
//! ASPLOS 2024) keeps an input when it makes some load read from a store it never read from
//! before. A lock hand-off is such a pair too (the acquiring RMW of `count` or `wait_lock` reads
//! the releasing store of another CPU), so it needs no counter of its own. Each pair is hashed
//! into a byte counter of a fixed array, which libFuzzer reads as extra counters: under
//! `cargo fuzz` (`cfg(fuzzing)`) the array lives in the `__libfuzzer_extra_counters` section,
//! which libFuzzer clears before each input and scans after it.

use std::cell::{Cell, RefCell};
use std::panic::Location;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering::Relaxed};

/// Counters in the map: a harness has a few hundred access sites, so collisions stay rare.
pub(crate) const MAP_SIZE: usize = 1 << 13;

#[used]
#[cfg_attr(
    all(fuzzing, target_os = "linux"),
    link_section = "__libfuzzer_extra_counters"
)]
static MAP: [AtomicU8; MAP_SIZE] = [const { AtomicU8::new(0) }; MAP_SIZE];

static ENABLED: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// Whether this thread's exploration wants feedback ([`start_feedback`]).
    static FEEDBACK: Cell<bool> = const { Cell::new(false) };
    /// Novel pairs seen since [`start_feedback`] on this thread.
    static NOVEL: Cell<u64> = const { Cell::new(0) };
    /// Every pair seen since [`start_feedback`] on this thread (by load and store site, and
    /// whether the store was another CPU's), as 64-bit keys.
    static SEEN: RefCell<Seen> = RefCell::new(Seen::new());
    /// The slot of the last novel pair in [`SEEN`].
    static LAST_NOVEL: Cell<u32> = const { Cell::new(0) };
}

/// Slots of [`Seen`]: a harness makes a few thousand distinct pairs at most.
const SEEN_SLOTS: usize = 1 << 15;

/// The reads-from pairs of one exploration, for the guided strategy's feedback: a set of 64-bit
/// keys (open addressing), not the fuzzer's map of 8,192 counters, so that whether a pair is new
/// does not depend on which other pairs share its counter. Those collisions, common in the map,
/// moved with every line added to a kernel model file (sites are named by position), and with
/// them which executions a seed explores. Two pairs share a key with a probability of about
/// 2^-63, and two sites share a 32-bit site hash with one of about (sites)^2 / 2^33.
struct Seen {
    /// Invariant: a slot's key is 0 iff the slot is free (a key is never 0).
    slots: Box<[Slot]>,
    len: usize,
}

/// A pair's key and how many loads made it (saturating), side by side: a probe touches one
/// cache line, not one in each of two arrays. Every load probes the table, which is far larger
/// than the cache (apart, nearly every probe missed twice).
#[derive(Clone, Copy, Default)]
struct Slot {
    key: u64,
    hits: u32,
}

impl Seen {
    fn new() -> Seen {
        Seen {
            slots: vec![Slot::default(); SEEN_SLOTS].into_boxed_slice(),
            len: 0,
        }
    }

    fn clear(&mut self) {
        self.slots.fill(Slot::default());
        self.len = 0;
    }

    /// Count one load of the pair `key`: its slot, and whether the pair is new. When the table
    /// is three-quarters full, new pairs are no longer recorded (none is new).
    #[inline]
    fn hit(&mut self, key: u64) -> Option<(u32, bool)> {
        let mask = SEEN_SLOTS - 1;
        let mut i = (key >> (64 - SEEN_SLOTS.trailing_zeros())) as usize;
        loop {
            let slot = &mut self.slots[i];
            if slot.key == key {
                slot.hits = slot.hits.saturating_add(1);
                return Some((i as u32, false));
            }
            if slot.key == 0 {
                if self.len >= SEEN_SLOTS / 4 * 3 {
                    return None;
                }
                *slot = Slot { key, hits: 1 };
                self.len += 1;
                return Some((i as u32, true));
            }
            i = (i + 1) & mask;
        }
    }
}

/// SplitMix64's finalizer.
#[inline]
pub(super) fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Whether accesses feed the map (fuzzing). With [`feedback`] (guided exploration), whether
/// accesses compute their sites at all: off otherwise so that exploration pays nothing.
#[inline]
pub(crate) fn map_on() -> bool {
    ENABLED.load(Relaxed)
}

/// Start counting, on this thread, the reads-from pairs never seen before in this exploration:
/// the feedback of the guided strategy ([`crate::sched::Guided`]), which keeps the executions
/// that produce new ones and mutates them. Clears what an earlier exploration saw.
pub(crate) fn start_feedback() {
    SEEN.with(|s| s.borrow_mut().clear());
    NOVEL.with(|n| n.set(0));
    super::near::reset();
    FEEDBACK.with(|f| f.set(true));
}

/// The counter of the newest novel pair ([`novel_pairs`]), for [`pair_hits`].
#[inline]
pub(crate) fn last_novel_pair() -> u32 {
    LAST_NOVEL.with(Cell::get)
}

/// How many loads of this exploration made the pair counted at `pair`: how rare it is.
pub(crate) fn pair_hits(pair: u32) -> u32 {
    SEEN.with(|s| s.borrow().slots[pair as usize % SEEN_SLOTS].hits)
}

/// Count, or not, in the executions to come of this exploration (what was seen is kept): the
/// guided strategy samples its executions once new pairs have stopped coming.
pub(crate) fn track(on: bool) {
    FEEDBACK.with(|f| f.set(on));
}

/// Stop counting (the end of an exploration).
pub(crate) fn stop_feedback() {
    FEEDBACK.with(|f| f.set(false));
}

/// Novel reads-from pairs seen since [`start_feedback`]: it grows during an execution exactly
/// when a load reads from a store in a way no earlier execution of this exploration did.
#[inline]
pub(crate) fn novel_pairs() -> u64 {
    NOVEL.with(Cell::get)
}

pub(crate) fn set_enabled(on: bool) {
    ENABLED.store(on, Relaxed);
}

/// A static access site: the harness line, the innermost kernel function and the operation.
/// Kernel functions are `#[track_caller]`, so the line alone is the harness's call of
/// `mutex_unlock`; the function and operation tell its `atomic_set` in `__mutex_unlock_slowpath`
/// from its `arch_spin_trylock` in `spin_lock`. Never 0: 0 is "no store yet".
#[inline]
pub(crate) fn site(caller: &'static Location<'static>, func: &'static str, op: &'static str) -> u32 {
    // By content, not by address: the same site hashes the same way in every process and in
    // every build where its line stays put, so the guided strategy's feedback (hence which
    // executions a seed explores) does not move with code layout or address randomization. The
    // names are summarized by their length and first and last eight bytes: cheap enough for
    // every access, and different for every pair of kernel functions and operations here.
    let a = u64::from(caller.line()) << 20 ^ u64::from(caller.column()) ^ (caller.file().len() as u64) << 48;
    let b = name_key(func);
    let c = name_key(op);
    ((a ^ b.rotate_left(21) ^ c.rotate_left(42)).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32) as u32 | 1
}

/// A name's length and its first and last eight bytes, mixed.
#[inline]
fn name_key(s: &str) -> u64 {
    let b = s.as_bytes();
    let n = b.len();
    let (head, tail) = if n >= 8 {
        (
            u64::from_le_bytes(b[..8].try_into().unwrap_or([0; 8])),
            u64::from_le_bytes(b[n - 8..].try_into().unwrap_or([0; 8])),
        )
    } else {
        (b.iter().fold(0u64, |h, &x| h << 8 | u64::from(x)), 0)
    };
    head ^ tail.rotate_left(29) ^ (n as u64) << 56
}

/// The load at `load` read, from the word at `offset` of its object (which field), the value of
/// the store at `store`, made by another CPU or not; `feedback` is [`feedback`] (the caller
/// has it at hand).
#[inline]
pub(crate) fn reads_from(load: u32, store: u32, offset: u64, other_cpu: bool, feedback: bool) {
    if ENABLED.load(Relaxed) {
        let key = (u64::from(load) << 32 | u64::from(store)) ^ (offset << 1 | u64::from(other_cpu));
        let i = (key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - MAP_SIZE.trailing_zeros())) as usize;
        let c = &MAP[i];
        c.store(c.load(Relaxed).saturating_add(1), Relaxed);
    }
    if feedback {
        // The guided strategy's pair leaves out the word: a load in a loop over per-CPU counters
        // or list entries would otherwise make one pair per word, each new once, and those
        // would crowd the corpus with executions that differ only in which word came first.
        // Leaving the word out took the slowest cells of `kgrace bench --seeds 300` 10 to 25%
        // lower.
        let exact = mix(u64::from(load) << 32 | u64::from(store)) ^ u64::from(other_cpu) << 7;
        if let Some((slot, true)) = SEEN.with(|s| s.borrow_mut().hit(exact | 1)) {
            NOVEL.with(|n| n.set(n.get() + 1));
            LAST_NOVEL.with(|l| l.set(slot));
        }
    }
}

/// Whether this thread's exploration wants feedback (the guided strategy's).
#[inline]
pub(crate) fn feedback() -> bool {
    FEEDBACK.with(Cell::get)
}

/// Clear the map (libFuzzer does it itself; for measurements and tests outside libFuzzer).
pub(crate) fn clear() {
    for c in &MAP {
        c.store(0, Relaxed);
    }
}

/// Counters that are not zero: distinct reads-from pairs seen since the last clear.
pub(crate) fn pairs_seen() -> usize {
    MAP.iter().filter(|c| c.load(Relaxed) != 0).count()
}
