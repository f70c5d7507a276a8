//! The 2015 kernel mutex (v4.1–v4.3 `kernel/locking/mutex.c`, the x86 / `mutex-dec.h` fast
//! paths), down to the accesses that matter for its lifetime rule (`docs/mutex_unlock_free.md`,
//! §The 2015 mutex).
//!
//! The point of modeling the internals: `mutex_unlock`'s slow path releases `count` *before* it
//! takes `wait_lock`, so another CPU can take the mutex through the fast path or the optimistic
//! spinner's `cmpxchg`, release it, and free the object that holds it while the unlocker still has
//! `spin_lock(&lock->wait_lock)`, the wait-list check and `spin_unlock` to do. A mutex therefore
//! cannot protect the lifetime of its container; a spinlock can.
//!
//! With `CONFIG_DEBUG_MUTEXES` ([`Config::debug_mutexes`](crate::harness::Config)) there is no fast
//! path and no spinning, and the unlock sets `count` inside `wait_lock`, so the unlocker's last
//! access is its `spin_unlock`, and the window closes.
//!
//! Before v3.15 ([`Config::mutex_unlock_pre_3_15`](crate::harness::Config)) the unlock released
//! `count` after `spin_lock(&lock->wait_lock)`; the fast path and the spinner still take the mutex
//! without `wait_lock`, so the window only shrinks to the wait-list check and the `spin_unlock`.
//!
//! An optimistic spinner stops when the owner is off its CPU: asleep, or, under `CONFIG_PREEMPT`,
//! preempted ([`task_on_cpu`]).
//!
//! Not modeled: the `osq` MCS queue of spinners (at most one CPU spins in the harnesses),
//! signals, and lockdep.

use super::cpu::{
    current, schedule, set_current_state_uninterruptible, task_on_cpu, wake_up_process, KFunc, Task,
};
use super::heap::{stack_alloc, stack_release};
use super::list::{init_list_head, list_add_tail, list_del, list_empty, list_first, ListHead};
use super::mem::{atomic_cmpxchg, atomic_dec_return, atomic_inc_return, atomic_read, atomic_set};
use super::mem::{atomic_cmpxchg_acquire, atomic_dec_return_acquire, atomic_inc_return_release};
use super::mem::{
    atomic_set_release, atomic_xchg, atomic_xchg_acquire, read_once, write_once, Embed, Ptr, Word,
};
use super::spinlock::{spin_lock, spin_lock_init, spin_unlock, Spinlock};
use crate::engine;

/// `struct mutex` (2015): `count`, `owner`, `wait_lock`, `wait_list`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mutex(Ptr);

impl Embed for Mutex {
    /// Invariant: the offsets below follow this order.
    const SLOTS: &'static [&'static str] =
        &["count", "owner", "wait_lock", "wait_list.next", "wait_list.prev"];
    fn at(base: Ptr) -> Self {
        Mutex(base)
    }
}

impl Mutex {
    /// `atomic_t count`: 1 unlocked, 0 locked, negative locked with possible waiters.
    pub fn count(self) -> Word<i64> {
        Word::at(self.0)
    }
    /// `struct task_struct *owner`, for optimistic spinning.
    pub fn owner(self) -> Word<Task> {
        Word::at(self.0.add(1))
    }
    /// `spinlock_t wait_lock`.
    pub fn wait_lock(self) -> Spinlock {
        Spinlock::at(self.0.add(2))
    }
    /// `struct list_head wait_list`.
    pub fn wait_list(self) -> ListHead {
        ListHead::at(self.0.add(3))
    }
}

crate::kstruct! {
    /// `struct mutex_waiter`, on the stack of the task that waits.
    pub struct MutexWaiter("mutex_waiter") {
        list: ListHead,
        task: Word<Task>,
    }
}

/// Times the optimistic spinner finds no owner and fails to take the mutex before it goes to
/// sleep: the kernel leaves that loop on `need_resched()`, which a real CPU reaches eventually; the
/// model makes "eventually" a bound. Spinning on a running owner is not bounded, as in the kernel.
const NO_OWNER_SPINS: u32 = 4;

/// `mutex_init(lock)`.
#[track_caller]
pub fn mutex_init(lock: Mutex) {
    atomic_set(lock.count(), 1);
    lock.owner().store(Task::NULL);
    spin_lock_init(lock.wait_lock());
    init_list_head(lock.wait_list());
}

/// `mutex_set_owner`. The 2015 code stores `owner` plainly while spinners `READ_ONCE` it: a race
/// KCSAN would report, benign by design (the spinner only uses it as a hint) and made a marked
/// access in later kernels. It is modeled marked so that the race the thread is about, not this
/// one, is what exploration reports.
#[track_caller]
fn mutex_set_owner(lock: Mutex) {
    write_once(lock.owner(), current());
}

/// `mutex_clear_owner`; see [`mutex_set_owner`].
#[track_caller]
fn mutex_clear_owner(lock: Mutex) {
    write_once(lock.owner(), Task::NULL);
}

/// `mutex_lock(lock)`.
#[track_caller]
pub fn mutex_lock(lock: Mutex) {
    let _f = KFunc::enter("mutex_lock");
    if engine::config().debug_mutexes {
        // mutex-null.h: no fast path.
        __mutex_lock_slowpath(lock);
        return;
    }
    // __mutex_fastpath_lock: `LOCK decl; jns`; an acquire since v4.10.
    let count = if acquire_release() {
        atomic_dec_return_acquire(lock.count())
    } else {
        atomic_dec_return(lock.count())
    };
    if count < 0 {
        __mutex_lock_slowpath(lock);
    }
    mutex_set_owner(lock);
}

/// `mutex_is_locked(lock)`: `atomic_read(&lock->count) != 1`.
#[track_caller]
pub fn mutex_is_locked(lock: Mutex) -> bool {
    atomic_read(lock.count()) != 1
}

/// `mutex_try_to_acquire`, the optimistic spinner's attempt: `!mutex_is_locked(lock) &&
/// (atomic_cmpxchg(&lock->count, 1, 0) == 1)`. The plain read first keeps a spinner from
/// issuing a fully ordered RMW on a cache line the owner is using.
#[track_caller]
fn mutex_try_to_acquire(lock: Mutex) -> bool {
    !mutex_is_locked(lock)
        && if acquire_release() {
            atomic_cmpxchg_acquire(lock.count(), 1, 0) == 1
        } else {
            atomic_cmpxchg(lock.count(), 1, 0) == 1
        }
}

/// Whether the mutex has the orderings of v4.10 and later ([`Config::mutex_acquire_release`]):
/// taking it is an acquire, releasing it a release, and neither is a full barrier.
///
/// [`Config::mutex_acquire_release`]: crate::harness::Config::mutex_acquire_release
fn acquire_release() -> bool {
    engine::config().mutex_acquire_release
}

/// `atomic_xchg(&lock->count, new)` as the slow path takes the mutex with it.
#[track_caller]
fn count_xchg(lock: Mutex, new: i64) -> i64 {
    if acquire_release() {
        atomic_xchg_acquire(lock.count(), new)
    } else {
        atomic_xchg(lock.count(), new)
    }
}

/// `atomic_set(&lock->count, 1)`: the slow path releasing the mutex.
#[track_caller]
fn count_release(lock: Mutex) {
    if acquire_release() {
        atomic_set_release(lock.count(), 1)
    } else {
        atomic_set(lock.count(), 1)
    }
}

/// `mutex_optimistic_spin`: spin while the owner runs, then try to take the mutex without
/// `wait_lock`. Returns true if acquired.
#[track_caller]
fn mutex_optimistic_spin(lock: Mutex) -> bool {
    let _f = KFunc::enter("mutex_optimistic_spin");
    let mut no_owner = 0;
    loop {
        let owner = read_once(lock.owner());
        if !owner.is_null() {
            // mutex_spin_on_owner: spin while the same owner holds it and runs.
            while read_once(lock.owner()) == owner {
                if !task_on_cpu(owner) {
                    // `!owner->on_cpu`: the owner sleeps or was preempted, and will not release
                    // the mutex before it runs again: spinning is pointless, go to sleep too.
                    return false;
                }
                super::cpu::cpu_relax();
            }
        }
        if mutex_try_to_acquire(lock) {
            mutex_set_owner(lock);
            return true;
        }
        if owner.is_null() {
            // `if (!owner && need_resched()) break;`
            no_owner += 1;
            if no_owner >= NO_OWNER_SPINS {
                return false;
            }
        }
        super::cpu::cpu_relax();
    }
}

/// `__mutex_lock_common` (TASK_UNINTERRUPTIBLE).
#[track_caller]
fn __mutex_lock_slowpath(lock: Mutex) {
    let _f = KFunc::enter("__mutex_lock_slowpath");
    let debug = engine::config().debug_mutexes;
    if !debug && mutex_optimistic_spin(lock) {
        return;
    }
    spin_lock(lock.wait_lock());
    // Once more, before queueing, and only if it is unlocked, as v4.1 has it (the `count >= 0`
    // test is the waiter loop's, below): no fully ordered xchg on a locked mutex.
    if !mutex_is_locked(lock) && count_xchg(lock, 0) == 1 {
        mutex_set_owner(lock);
        spin_unlock(lock.wait_lock());
        return;
    }
    let waiter = stack_alloc::<MutexWaiter>();
    list_add_tail(waiter.list(), lock.wait_list());
    waiter.task().store(current());
    loop {
        // Lets the unlocker know it has to wake us: count becomes -1.
        if atomic_read(lock.count()) >= 0 && count_xchg(lock, -1) == 1 {
            break;
        }
        set_current_state_uninterruptible();
        spin_unlock(lock.wait_lock());
        schedule();
        spin_lock(lock.wait_lock());
        if engine::failed() {
            return;
        }
    }
    // mutex_remove_waiter.
    list_del(waiter.list());
    if list_empty(lock.wait_list()) {
        atomic_set(lock.count(), 0);
    }
    stack_release(waiter);
    mutex_set_owner(lock);
    spin_unlock(lock.wait_lock());
}

/// `mutex_unlock(lock)`.
#[track_caller]
pub fn mutex_unlock(lock: Mutex) {
    let _f = KFunc::enter("mutex_unlock");
    if engine::config().debug_mutexes {
        __mutex_unlock_slowpath(lock, true);
        return;
    }
    // mutex_clear_owner (non-debug builds clear it before the release).
    mutex_clear_owner(lock);
    // __mutex_fastpath_unlock: `LOCK incl; jg`; a release since v4.10.
    let count = if acquire_release() {
        atomic_inc_return_release(lock.count())
    } else {
        atomic_inc_return(lock.count())
    };
    if count <= 0 {
        __mutex_unlock_slowpath(lock, false);
    }
}

/// `__mutex_unlock_common_slowpath` (v3.15+, after 1d8fe7dc8078; or the older order,
/// [`Config::mutex_unlock_pre_3_15`](crate::harness::Config)).
#[track_caller]
fn __mutex_unlock_slowpath(lock: Mutex, debug: bool) {
    let _f = KFunc::enter("__mutex_unlock_slowpath");
    let pre_3_15 = engine::config().mutex_unlock_pre_3_15;
    if !debug && !pre_3_15 {
        // __mutex_slowpath_needs_to_unlock(): release the mutex *before* taking wait_lock. From
        // here on another CPU can take it without touching wait_lock.
        count_release(lock);
    }
    // The unlocker may be preempted here (Mark Hairgrove): every access is a scheduling point.
    spin_lock(lock.wait_lock());
    if debug {
        // debug_mutex_unlock: clear the owner and release count inside wait_lock.
        mutex_clear_owner(lock);
        count_release(lock);
    } else if pre_3_15 {
        // Before v3.15 the release came inside wait_lock, but the fast path and the spinner's
        // cmpxchg still take the mutex without wait_lock: the wait-list check and the
        // spin_unlock below still come after the release.
        count_release(lock);
    }
    if !list_empty(lock.wait_list()) {
        let first = list_first(lock.wait_list());
        let waiter = crate::container_of!(first, MutexWaiter, list);
        wake_up_process(waiter.task().load());
    }
    spin_unlock(lock.wait_lock());
}
