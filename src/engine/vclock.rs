//! Vector clocks, as cheap for the few CPUs most harnesses have as a plain array of them.
//!
//! A clock is copied into every store it releases and joined on every synchronizing access, so
//! its size is the engine's hot-path cost. A clock holds the entries of the first
//! [`INLINE_CPUS`] CPUs (all of them in an execution of at most eight CPUs, as kgrace had before
//! it had more), and a word that names (by index) an immutable array in a per-thread arena
//! holding the entries of the CPUs past them, which only executions with more CPUs have. A clock
//! is thus `Copy` and 36 bytes whatever the number of CPUs, and a join is the same eight `max`es
//! as before plus one comparison; writing a wide entry adds a new arena array (copy on write), and
//! the arena is emptied when an execution starts ([`reset`]), which drops every clock of the
//! execution before.

use std::cell::RefCell;

/// Most CPUs an execution may have, the setup CPU (CPU0) included: CPU0 and 32 spawned CPUs.
pub const MAX_CPUS: usize = 33;

/// CPUs whose entries a clock holds inline.
const INLINE_CPUS: usize = 8;

/// Entries past the inline ones.
const WIDE: usize = MAX_CPUS - INLINE_CPUS;

type Wide = [u32; WIDE];

thread_local! {
    /// The wide parts of this execution's clocks; never changed once pushed.
    static ARENA: RefCell<Vec<Wide>> = const { RefCell::new(Vec::new()) };
}

/// A new execution: no clock of the previous one is used again.
pub(crate) fn reset() {
    ARENA.with(|a| a.borrow_mut().clear());
}

/// A vector clock: entry `c` is the latest event of CPU `c` that happens-before the owner's next
/// event. Entries start at 0, meaning "nothing of that CPU".
///
/// No `PartialEq`: two clocks with the same entries may name different arena arrays.
#[derive(Clone, Copy, Debug, Default)]
pub struct VClock {
    lo: [u32; INLINE_CPUS],
    /// The entries past `lo`: 0 when all are 0, otherwise 1 + their index in [`ARENA`].
    hi: u32,
}

impl VClock {
    /// Entry `c`.
    #[inline]
    pub fn get(&self, c: usize) -> u32 {
        if c < INLINE_CPUS {
            self.lo[c]
        } else if self.hi == 0 {
            0
        } else {
            self.wide()[c - INLINE_CPUS]
        }
    }

    #[cold]
    fn wide(&self) -> Wide {
        match self.hi {
            0 => [0; WIDE],
            h => ARENA.with(|a| a.borrow()[h as usize - 1]),
        }
    }

    /// Set entry `c` to `v`.
    #[inline]
    pub fn set(&mut self, c: usize, v: u32) {
        if c < INLINE_CPUS {
            self.lo[c] = v;
        } else {
            self.set_wide(c - INLINE_CPUS, v);
        }
    }

    #[cold]
    fn set_wide(&mut self, i: usize, v: u32) {
        let mut w = self.wide();
        w[i] = v;
        self.hi = push(w);
    }

    /// Advance entry `c` by one: CPU `c`'s next event is a new one.
    #[inline]
    pub fn tick(&mut self, c: usize) {
        self.set(c, self.get(c) + 1);
    }

    /// Raise entry `c` to at least `v`.
    #[inline]
    pub fn raise(&mut self, c: usize, v: u32) {
        if self.get(c) < v {
            self.set(c, v);
        }
    }

    /// Pointwise maximum: after `a.join(&b)`, everything ordered before `b` is ordered before `a`.
    #[inline]
    pub fn join(&mut self, other: &VClock) {
        for (a, b) in self.lo.iter_mut().zip(other.lo.iter()) {
            *a = (*a).max(*b);
        }
        if other.hi != 0 {
            self.join_wide(other.hi);
        }
    }

    #[cold]
    fn join_wide(&mut self, theirs: u32) {
        if self.hi == theirs {
            return;
        }
        if self.hi == 0 {
            self.hi = theirs;
            return;
        }
        let (mine, theirs_w) = ARENA.with(|a| {
            let a = a.borrow();
            (a[self.hi as usize - 1], a[theirs as usize - 1])
        });
        if mine.iter().zip(&theirs_w).all(|(a, b)| a >= b) {
            return;
        }
        if theirs_w.iter().zip(&mine).all(|(a, b)| a >= b) {
            self.hi = theirs;
            return;
        }
        let mut w = mine;
        for (a, b) in w.iter_mut().zip(&theirs_w) {
            *a = (*a).max(*b);
        }
        self.hi = push(w);
    }
}

/// A new wide part; returns its `hi`.
fn push(w: Wide) -> u32 {
    ARENA.with(|a| {
        let mut a = a.borrow_mut();
        a.push(w);
        a.len() as u32
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_past_the_inline_ones_join_and_copy_on_write() {
        reset();
        let mut a = VClock::default();
        a.set(1, 3);
        a.set(20, 5);
        let mut b = a;
        b.tick(20);
        b.set(32, 7);
        assert_eq!(
            (a.get(20), a.get(32)),
            (5, 0),
            "a write to a copy leaves the original"
        );
        let mut c = VClock::default();
        c.set(2, 1);
        c.join(&b);
        assert_eq!((c.get(1), c.get(2), c.get(20), c.get(32)), (3, 1, 6, 7));
        c.join(&a);
        assert_eq!(c.get(20), 6, "joining a smaller clock changes nothing");
        a.raise(20, 9);
        c.join(&a);
        assert_eq!((c.get(20), c.get(32), b.get(20)), (9, 7, 6));
        let mut d = VClock::default();
        d.set(9, 4);
        d.join(&c);
        assert_eq!(
            (d.get(9), d.get(20), d.get(32)),
            (4, 9, 7),
            "each side's larger entries"
        );
    }
}
