//! `struct percpu_ref` (v5.12 `include/linux/percpu-refcount.h`, `lib/percpu-refcount.c`), as
//! far as a user that kills it once sees it: `percpu_ref_tryget_live`, `percpu_ref_put`,
//! `percpu_ref_kill`, and the release function run by the last put.
//!
//! The kernel counts per CPU until `percpu_ref_kill`, which marks the ref dead, and, after an RCU
//! grace period (so that every `tryget_live` that saw it alive has counted itself), folds the
//! per-CPU counts into one atomic count and drops the initial reference. The model has the one
//! atomic count from the start, and a `dead` flag: `tryget_live` fails on a dead ref, or when the
//! count has already reached zero. Every outcome of the kernel's is one of the model's: a
//! `tryget_live` that the kernel lets in before the switch is let in here too if it comes before
//! the initial reference goes; one that comes later fails, as it would in the kernel once it saw
//! the ref dead. The last put's release is ordered after every earlier holder's accesses in both
//! (the grace period and the fold in the kernel, fully ordered RMWs here).

use super::cpu::KFunc;
use super::mem::{atomic_cmpxchg, atomic_dec_and_test, atomic_read, atomic_set, read_once};
use super::mem::{write_once, Embed, Ptr, Word};
use super::rcu::{rcu_read_lock, rcu_read_unlock};

/// `struct percpu_ref`: its count and its dead mark.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PercpuRef(Ptr);

impl Embed for PercpuRef {
    /// Invariant: the offsets below follow this order.
    const SLOTS: &'static [&'static str] = &["count", "dead"];
    fn at(base: Ptr) -> Self {
        PercpuRef(base)
    }
}

impl PercpuRef {
    fn count(self) -> Word<i64> {
        Word::at(self.0)
    }
    fn dead(self) -> Word<u64> {
        Word::at(self.0.add(1))
    }
}

/// `percpu_ref_init(ref, release, 0, gfp)`: alive, holding the initial reference.
#[track_caller]
pub fn percpu_ref_init(r: PercpuRef) {
    atomic_set(r.count(), 1);
    write_once(r.dead(), 0);
}

/// `percpu_ref_tryget_live(ref)`: a reference, unless the ref is dead (or already released).
#[track_caller]
pub fn percpu_ref_tryget_live(r: PercpuRef) -> bool {
    let _f = KFunc::enter("percpu_ref_tryget_live");
    rcu_read_lock();
    let mut ret = false;
    if read_once(r.dead()) == 0 {
        // atomic_long_inc_not_zero(&ref->data->count)
        let mut c = atomic_read(r.count());
        while c != 0 {
            let old = atomic_cmpxchg(r.count(), c, c + 1);
            if old == c {
                ret = true;
                break;
            }
            c = old;
        }
    }
    rcu_read_unlock();
    ret
}

/// `percpu_ref_put(ref)`: the last reference runs `release`.
#[track_caller]
pub fn percpu_ref_put(r: PercpuRef, release: impl FnOnce()) {
    let _f = KFunc::enter("percpu_ref_put");
    if atomic_dec_and_test(r.count()) {
        release();
    }
}

/// `percpu_ref_kill(ref)`: mark it dead, then drop the initial reference (in the kernel, after
/// the switch to atomic mode; `release` runs if no one else holds one).
#[track_caller]
pub fn percpu_ref_kill(r: PercpuRef, release: impl FnOnce()) {
    let _f = KFunc::enter("percpu_ref_kill");
    write_once(r.dead(), 1);
    percpu_ref_put(r, release);
}
