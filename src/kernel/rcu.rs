//! RCU: read-side critical sections, `synchronize_rcu`, pointer publication and the RCU list
//! primitives.
//!
//! The read side and the grace period are modeled by RCU's guarantee (a `synchronize_rcu` waits
//! for every reader that was inside when it was invoked), not by one of RCU's implementations:
//! no thread here argues about RCU's internals. SRCU, which the threads do argue about, is in
//! [`crate::kernel::srcu`] word by word.
//!
//! `rcu_dereference` is a `READ_ONCE` load, not an acquire: what orders the accesses through the
//! pointer it returns is the address dependency, which the engine tracks by itself (it knows which
//! load produced a pointer). An access not made through that pointer is unordered: under `lkmm`
//! it may read an older value, and the race detector treats it as unordered.

use std::panic::Location;

use super::cpu::KFunc;
use super::list::{HlistHead, HlistNode, ListHead};
use super::mem::{write_once, Value, Word};
use super::LIST_POISON2;
use crate::engine::{self, Kind};

/// `rcu_read_lock()`: enter a read-side critical section.
#[track_caller]
pub fn rcu_read_lock() {
    engine::rcu::rcu_read_lock(Location::caller())
}

/// `rcu_read_unlock()`: leave it.
#[track_caller]
pub fn rcu_read_unlock() {
    engine::rcu::rcu_read_unlock(Location::caller())
}

/// `synchronize_rcu()`: wait until every CPU that is inside a read-side critical section now has
/// left it. Code that is not inside `rcu_read_lock` (a preemptible `mutex_unlock` slow path, for
/// one) is not waited for.
#[track_caller]
pub fn synchronize_rcu() {
    let _f = KFunc::enter("synchronize_rcu");
    engine::rcu::synchronize_rcu(Location::caller())
}

/// `rcu_assign_pointer(p, v)`: publish `v`, a release store.
#[track_caller]
pub fn rcu_assign_pointer<T: Value>(p: Word<T>, v: T) {
    let w = v.to_word();
    engine::access(
        p.addr().0,
        Kind::Release,
        "rcu_assign_pointer",
        true,
        Location::caller(),
        |_| (0, Some(w)),
    );
}

/// `rcu_dereference(p)`: load a published pointer (`READ_ONCE` plus the address dependency; see
/// the module docs).
#[track_caller]
pub fn rcu_dereference<T: Value>(p: Word<T>) -> T {
    dereference(p, "rcu_dereference", Location::caller())
}

pub(crate) fn dereference<T: Value>(p: Word<T>, op: &'static str, caller: &'static Location<'static>) -> T {
    T::from_word(engine::access(p.addr().0, Kind::Once, op, false, caller, |v| {
        (v, None)
    }))
}

/// `RCU_INIT_POINTER(p, v)`: store a pointer that no reader can reach yet (the object holding `p`
/// is not published), or NULL: a `WRITE_ONCE`, no release.
#[track_caller]
pub fn rcu_init_pointer<T: Value>(p: Word<T>, v: T) {
    write_once(p, v)
}

/// `rcu_dereference_protected(p, c)`: the updater's plain load under the lock that serializes
/// updates.
#[track_caller]
pub fn rcu_dereference_protected<T: Value>(p: Word<T>) -> T {
    p.load()
}

/// `list_add_rcu(new, head)`: initialize `new`, then publish it after `head` with a release.
#[track_caller]
pub fn list_add_rcu(new: ListHead, head: ListHead) {
    let next = ListHead::from_ptr(head.next().load());
    new.next().store(next.addr());
    new.prev().store(head.addr());
    rcu_assign_pointer(head.next(), new.addr());
    next.prev().store(new.addr());
}

/// `list_del_rcu(entry)`: unlink, leaving `entry->next` intact for readers still on it.
#[track_caller]
pub fn list_del_rcu(entry: ListHead) {
    let prev = ListHead::from_ptr(entry.prev().load());
    let next = ListHead::from_ptr(entry.next().load());
    next.prev().store(prev.addr());
    write_once(prev.next(), next.addr());
    entry.prev().store(LIST_POISON2);
}

/// `list_for_each_entry_rcu(pos, head, member)`: the `list_head`s after `head`, each reached
/// through `rcu_dereference` of the previous `next`. Use `container_of!` on each.
#[track_caller]
pub fn list_for_each_entry_rcu(head: ListHead) -> impl Iterator<Item = ListHead> {
    let caller = Location::caller();
    let mut pos = head;
    std::iter::from_fn(move || {
        let next: super::Ptr = dereference(pos.next(), "rcu_dereference", caller);
        if next == head.addr() {
            return None;
        }
        pos = ListHead::from_ptr(next);
        Some(pos)
    })
}

/// `hlist_add_head_rcu(n, h)` (v5.5 `include/linux/rculist.h`): initialize `n` (plain stores;
/// readers never load `pprev`), publish it as `h->first` with `rcu_assign_pointer` (a
/// release: a reader that finds `n` through [`hlist_for_each_entry_rcu`] sees what was stored
/// before), then link the old first node back to it. The caller serializes updaters (a lock).
#[track_caller]
pub fn hlist_add_head_rcu(n: HlistNode, h: HlistHead) {
    let first = h.first().load();
    n.next().store(first);
    n.pprev().store(h.first().addr());
    rcu_assign_pointer(h.first(), n.addr());
    if !first.is_null() {
        HlistNode::from_ptr(first).pprev().store(n.next().addr());
    }
}

/// `hlist_del_init_rcu(n)`: unlink `n` if it is hashed and mark it unhashed (`pprev = NULL`),
/// leaving `n->next` intact for readers still on it. Free `n` only after a grace period.
#[track_caller]
pub fn hlist_del_init_rcu(n: HlistNode) {
    if !super::hlist_unhashed(n) {
        super::list::__hlist_del(n);
        n.pprev().store(super::Ptr::NULL);
    }
}

/// `hlist_for_each_entry_rcu(pos, head, member)` (and the `srcu` walks of `mm/mmu_notifier.c`):
/// the nodes of `head`, each reached through `rcu_dereference` of `head->first` or of the previous
/// node's `next`, so that accesses through a node are address-dependent on the load that found
/// it. Use `container_of!` on each. Lazy: a `break` loads nothing more.
#[track_caller]
pub fn hlist_for_each_entry_rcu(head: HlistHead) -> impl Iterator<Item = HlistNode> {
    let caller = Location::caller();
    let mut next = Some(head.first());
    std::iter::from_fn(move || {
        let p: super::Ptr = dereference(next?, "rcu_dereference", caller);
        if p.is_null() {
            next = None;
            return None;
        }
        let pos = HlistNode::from_ptr(p);
        next = Some(pos.next());
        Some(pos)
    })
}

/// `rcu_read_lock_sched()`, or the `preempt_disable()` it stands for: a region that
/// `synchronize_sched()` waits for. One flavor with RCU's since v4.20, and so in the model.
#[track_caller]
pub fn rcu_read_lock_sched() {
    engine::rcu::read_lock(engine::rcu::RCU, "preempt_disable", Location::caller());
}

/// `rcu_read_unlock_sched()` (`preempt_enable()`).
#[track_caller]
pub fn rcu_read_unlock_sched() {
    engine::rcu::read_unlock(engine::rcu::RCU, None, "preempt_enable", Location::caller())
}

/// `synchronize_sched()`: wait until every region with preemption disabled now has ended
/// (RCU's grace period, which since v4.20 it is).
#[track_caller]
pub fn synchronize_sched() {
    let _f = KFunc::enter("synchronize_sched");
    engine::rcu::synchronize(engine::rcu::RCU, "synchronize_sched", Location::caller())
}
