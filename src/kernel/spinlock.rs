//! `spinlock_t` and `struct rw_semaphore`.
//!
//! A contended CPU does not spin step by step: it blocks until the lock word changes, which is
//! what spinning observes, at a fraction of the steps. A spinner still runs kernel code (no
//! quiescent state for RCU); a rwsem waiter sleeps.

use std::panic::Location;

use super::cpu::KFunc;
use super::mem::{atomic_read, atomic_set, Embed, Ptr, Word};
use crate::engine::{self, Blocked, Kind};

/// `spinlock_t`: one word, 0 unlocked, 1 locked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spinlock(Ptr);

impl Embed for Spinlock {
    const SLOTS: &'static [&'static str] = &[""];
    fn at(base: Ptr) -> Self {
        Spinlock(base)
    }
}

impl Spinlock {
    /// The lock word.
    pub fn word(self) -> Word<u64> {
        Word::at(self.0)
    }
}

/// `spin_lock_init(lock)`.
#[track_caller]
pub fn spin_lock_init(lock: Spinlock) {
    engine::access(
        lock.0 .0,
        Kind::Once,
        "spin_lock_init",
        true,
        Location::caller(),
        |_| (0, Some(0)),
    );
}

/// `spin_lock(lock)`: an acquire; waits while another CPU holds it.
#[track_caller]
pub fn spin_lock(lock: Spinlock) {
    let _f = KFunc::enter("spin_lock");
    spin_until_free(
        lock,
        Location::caller(),
        Kind::RmwAcquire,
        "arch_spin_trylock",
        |v| {
            if v == 0 {
                (0, Some(1))
            } else {
                (v, None)
            }
        },
    );
}

/// The first half of `spin_lock(lock)` taken in two events, as arm64's LL/SC loop takes it: the
/// acquiring load that finds the word free (`LDAXR`). [`arch_spin_lock_store`] is the second,
/// the store that marks it held (`STXR`), which LKMM orders neither before the critical
/// section's later accesses nor after them (its `LKW` event is in no `ppo` edge but the
/// unlock's release): an outside CPU polling `spin_is_locked()` may see the section's stores
/// before it sees the lock held. The exclusive monitor is not modeled: the caller (a litmus
/// variant, `litmus::reorder`) splits only a lock that no other CPU takes, so no store can
/// come between the two.
#[track_caller]
pub(crate) fn arch_spin_lock_load(lock: Spinlock) {
    let _f = KFunc::enter("spin_lock");
    spin_until_free(
        lock,
        Location::caller(),
        Kind::Acquire,
        "arch_spin_lock_ldaxr",
        |v| (v, None),
    );
}

/// Accesses the lock word with `take` (an RMW if `kind` is one, else a load) until it finds the
/// lock free (0), blocking until the word changes between attempts.
#[inline]
fn spin_until_free(
    lock: Spinlock,
    caller: &'static Location<'static>,
    kind: Kind,
    op: &'static str,
    take: fn(u64) -> (u64, Option<u64>),
) {
    loop {
        let old = engine::access(lock.0 .0, kind, op, kind.is_rmw(), caller, take);
        if old == 0 || engine::failed() {
            return;
        }
        engine::block_on(Blocked::Spinning(lock.0 .0));
    }
}

/// The second half of a split `spin_lock(lock)`: see [`arch_spin_lock_load`].
#[track_caller]
pub(crate) fn arch_spin_lock_store(lock: Spinlock) {
    let _f = KFunc::enter("spin_lock");
    engine::access(
        lock.0 .0,
        Kind::Once,
        "arch_spin_lock_stxr",
        true,
        Location::caller(),
        |_| (0, Some(1)),
    );
}

/// `spin_trylock(lock)`: takes the lock if it is free (an acquire) and says whether it did; a
/// failed attempt is an unordered read.
#[track_caller]
pub fn spin_trylock(lock: Spinlock) -> bool {
    let _f = KFunc::enter("spin_trylock");
    let old = engine::access(
        lock.0 .0,
        Kind::RmwAcquire,
        "arch_spin_trylock",
        true,
        Location::caller(),
        |v| if v == 0 { (0, Some(1)) } else { (v, None) },
    );
    old == 0
}

/// `spin_is_locked(lock)`: `arch_spin_is_locked`, a `READ_ONCE` of the lock word.
#[track_caller]
pub fn spin_is_locked(lock: Spinlock) -> bool {
    engine::access(
        lock.0 .0,
        Kind::Once,
        "spin_is_locked",
        false,
        Location::caller(),
        |v| (v, None),
    ) != 0
}

/// `spin_unlock(lock)`: a release store, the unlocker's last access to the lock.
#[track_caller]
pub fn spin_unlock(lock: Spinlock) {
    let _f = KFunc::enter("spin_unlock");
    engine::access(
        lock.0 .0,
        Kind::Release,
        "arch_spin_unlock",
        true,
        Location::caller(),
        |_| (0, Some(0)),
    );
    engine::wake_word(lock.0 .0);
}

/// `struct rw_semaphore`, reduced to its count: 0 free, `n > 0` held by `n` readers, -1 held by a
/// writer. Waiters block until the count changes. The kernel's wait queue and hand-off are not
/// modeled: fairness between readers and writers is left to the scheduler.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RwSemaphore(Ptr);

impl Embed for RwSemaphore {
    const SLOTS: &'static [&'static str] = &["count"];
    fn at(base: Ptr) -> Self {
        RwSemaphore(base)
    }
}

impl RwSemaphore {
    fn count(self) -> Word<i64> {
        Word::at(self.0)
    }
}

/// `init_rwsem(sem)`.
#[track_caller]
pub fn init_rwsem(sem: RwSemaphore) {
    atomic_set(sem.count(), 0)
}

#[track_caller]
fn cmpxchg_acquire(sem: RwSemaphore, old: i64, new: i64, op: &'static str) -> bool {
    let (o, n) = (old as u64, new as u64);
    let got = engine::access(sem.0 .0, Kind::RmwAcquire, op, true, Location::caller(), |v| {
        if v == o {
            (v, Some(n))
        } else {
            (v, None)
        }
    });
    got == o
}

/// `down_write(sem)`.
#[track_caller]
pub fn down_write(sem: RwSemaphore) {
    let _f = KFunc::enter("down_write");
    while !cmpxchg_acquire(sem, 0, -1, "rwsem_down_write_trylock") {
        if engine::failed() {
            return;
        }
        engine::block_on(Blocked::OnWord(sem.0 .0));
    }
}

/// `up_write(sem)`.
#[track_caller]
pub fn up_write(sem: RwSemaphore) {
    let _f = KFunc::enter("up_write");
    engine::access(
        sem.0 .0,
        Kind::Release,
        "rwsem_up_write",
        true,
        Location::caller(),
        |_| (0, Some(0)),
    );
    engine::wake_word(sem.0 .0);
}

/// `downgrade_write(sem)`: the writer becomes a reader without letting another writer in (a
/// release, `atomic_long_add_return_release` in v4.17); waiting readers may now enter.
#[track_caller]
pub fn downgrade_write(sem: RwSemaphore) {
    let _f = KFunc::enter("downgrade_write");
    engine::access(
        sem.0 .0,
        Kind::RmwRelease,
        "rwsem_downgrade_write",
        true,
        Location::caller(),
        |v| (v, Some(1)),
    );
    engine::wake_word(sem.0 .0);
}

/// `down_read(sem)`.
#[track_caller]
pub fn down_read(sem: RwSemaphore) {
    let _f = KFunc::enter("down_read");
    loop {
        let c = atomic_read(sem.count());
        if engine::failed() {
            return;
        }
        if c < 0 {
            engine::block_on(Blocked::OnWord(sem.0 .0));
            continue;
        }
        if cmpxchg_acquire(sem, c, c + 1, "rwsem_down_read_trylock") {
            return;
        }
    }
}

/// `up_read(sem)`.
#[track_caller]
pub fn up_read(sem: RwSemaphore) {
    let _f = KFunc::enter("up_read");
    let left = engine::access(
        sem.0 .0,
        Kind::RmwRelease,
        "rwsem_up_read",
        true,
        Location::caller(),
        |v| {
            let n = (v as i64 - 1) as u64;
            (n, Some(n))
        },
    );
    if left == 0 {
        engine::wake_word(sem.0 .0);
    }
}
