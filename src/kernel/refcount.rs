//! `refcount_t` and `struct kref`, with the orderings the kernel documents for them
//! (`Documentation/core-api/refcount-vs-atomic.rst`, v4.15+; `include/linux/refcount.h`):
//!
//! | operation | ordering |
//! |---|---|
//! | `refcount_set`, `refcount_read` | none (`atomic_set`, `atomic_read`) |
//! | `refcount_inc`, `kref_get` | none: a relaxed RMW that returns nothing |
//! | `refcount_inc_not_zero`, `kref_get_unless_zero` | none on success beyond a control dependency (a relaxed `cmpxchg` loop), none on failure |
//! | `refcount_dec_and_test`, `kref_put` | release; when it reaches zero, also an acquire (`smp_acquire__after_ctrl_dep()`) |
//!
//! This is weaker than the `atomic_t` operations they replaced: `atomic_dec_and_test` and a
//! successful `atomic_inc_not_zero` are fully ordered. Code that relied on that breaks when
//! converted, and the model catches it as a data race (`tests/refcount.rs`). The acquire on the
//! last decrement is in the API since v5.0 (47b8f3ab9c49); before, the documentation gave only
//! the control dependency, which orders the release function's stores (the free among them) but
//! not its loads. The model takes the v5.0 contract: with only the control dependency, which it
//! cannot express, every release function that reads the object would be reported.
//!
//! The generic implementations (v5.5+ `refcount.h`, and `CONFIG_REFCOUNT_FULL` before) saturate
//! instead of wrapping and warn. The two warnings that name a use-after-free, an increment from
//! zero ("refcount_t: addition on 0; use-after-free.") and a decrement below zero
//! ("refcount_t: underflow; use-after-free."), fail the execution as
//! [`FailureKind::UseAfterFree`](crate::FailureKind::UseAfterFree): the counter of a dead object
//! was touched, and whether KASAN (the memory is already freed) or refcount_t (the count is zero,
//! the free still to come) sees it first is only a matter of the interleaving. Overflow
//! ("refcount_t: saturated; leaking memory.") fails as a `WARN` ([`FailureKind::Bug`]).
//!
//! `struct kref` (v4.11+) is a `refcount_t`; the 2015 kref was an `atomic_t` with fully ordered
//! `kref_put`, which the model does not distinguish: it gives every kref the weaker, current
//! orderings.

use std::panic::Location;

use super::cpu::KFunc;
use super::mem::{smp_acquire__after_ctrl_dep, Embed, Ptr, Word};
use crate::engine::{self, Kind};
use crate::FailureKind;

/// `refcount_t`: one `int`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refcount(Ptr);

impl Embed for Refcount {
    const SLOTS: &'static [&'static str] = &[""];
    fn at(base: Ptr) -> Self {
        Refcount(base)
    }
}

impl Refcount {
    /// `r->refs`.
    pub fn refs(self) -> Word<i64> {
        Word::at(self.0)
    }
}

/// `REFCOUNT_SATURATED` (`INT_MIN / 2`): where a counter that over- or underflowed is parked.
pub const REFCOUNT_SATURATED: i64 = (i32::MIN / 2) as i64;

/// The counter is an `int`: the sign of the word as C sees it.
fn int(w: u64) -> i32 {
    w as i64 as i32
}

fn word(v: i32) -> u64 {
    v as i64 as u64
}

#[derive(Clone, Copy)]
enum Saturation {
    AddUaf,
    AddOvf,
    SubUaf,
}

/// `refcount_warn_saturate(r, t)`: park the counter at [`REFCOUNT_SATURATED`] and warn.
#[track_caller]
fn refcount_warn_saturate(r: Refcount, t: Saturation) {
    refcount_set(r, REFCOUNT_SATURATED);
    let (kind, what) = match t {
        Saturation::AddUaf => (
            FailureKind::UseAfterFree,
            "refcount_t: addition on 0; use-after-free.",
        ),
        Saturation::SubUaf => (
            FailureKind::UseAfterFree,
            "refcount_t: underflow; use-after-free.",
        ),
        Saturation::AddOvf => (FailureKind::Bug, "refcount_t: saturated; leaking memory."),
    };
    engine::oracle_failure(kind, what, Location::caller());
}

/// `refcount_set(r, n)`: `atomic_set`, unordered.
///
/// The model's counter word is an `i64` holding the `int`; `n` is truncated to 32 bits.
#[track_caller]
pub fn refcount_set(r: Refcount, n: i64) {
    let w = word(n as i32);
    engine::access(
        r.0 .0,
        Kind::Once,
        "refcount_set",
        true,
        Location::caller(),
        |_| (0, Some(w)),
    );
}

/// `refcount_read(r)`: `atomic_read`, unordered.
#[track_caller]
pub fn refcount_read(r: Refcount) -> i64 {
    let v = engine::access(
        r.0 .0,
        Kind::Once,
        "refcount_read",
        false,
        Location::caller(),
        |v| (v, None),
    );
    int(v) as i64
}

/// `refcount_inc(r)`: `atomic_fetch_add_relaxed`; warns (and saturates) when the old value was
/// 0 or the counter overflows.
#[track_caller]
pub fn refcount_inc(r: Refcount) {
    let _f = KFunc::enter("refcount_inc");
    let old = int(engine::access(
        r.0 .0,
        Kind::RmwRelaxed,
        "refcount_inc",
        true,
        Location::caller(),
        |v| (v, Some(word(int(v).wrapping_add(1)))),
    ));
    if engine::failed() {
        return;
    }
    if old == 0 {
        refcount_warn_saturate(r, Saturation::AddUaf);
    } else if old < 0 || old.checked_add(1).is_none() {
        refcount_warn_saturate(r, Saturation::AddOvf);
    }
}

/// `refcount_inc_not_zero(r)`: increments unless the counter is 0 and says whether it did. A
/// relaxed `cmpxchg` loop: on success it orders nothing beyond a control dependency (later
/// stores, not later loads), on failure nothing at all.
#[track_caller]
pub fn refcount_inc_not_zero(r: Refcount) -> bool {
    let _f = KFunc::enter("refcount_inc_not_zero");
    let old = int(engine::access(
        r.0 .0,
        Kind::RmwRelaxed,
        "refcount_inc_not_zero",
        true,
        Location::caller(),
        |v| {
            if int(v) == 0 {
                (v, None)
            } else {
                (v, Some(word(int(v).wrapping_add(1))))
            }
        },
    ));
    if engine::failed() {
        return false;
    }
    if old < 0 || (old != 0 && old.checked_add(1).is_none()) {
        refcount_warn_saturate(r, Saturation::AddOvf);
    }
    old != 0
}

/// `refcount_dec_and_test(r)`: `atomic_fetch_sub_release`; when it drops the last reference,
/// `smp_acquire__after_ctrl_dep()` so that the caller's release function sees every access made
/// before the other references were dropped. Warns (and saturates) on underflow.
#[track_caller]
pub fn refcount_dec_and_test(r: Refcount) -> bool {
    let _f = KFunc::enter("refcount_dec_and_test");
    let old = int(engine::access(
        r.0 .0,
        Kind::RmwRelease,
        "refcount_dec_and_test",
        true,
        Location::caller(),
        |v| (v, Some(word(int(v).wrapping_sub(1)))),
    ));
    if engine::failed() {
        return false;
    }
    if old == 1 {
        smp_acquire__after_ctrl_dep();
        return true;
    }
    if old <= 0 {
        refcount_warn_saturate(r, Saturation::SubUaf);
    }
    false
}

/// `struct kref`: a `refcount_t` (v4.11+).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Kref(Ptr);

impl Embed for Kref {
    const SLOTS: &'static [&'static str] = &["refcount"];
    fn at(base: Ptr) -> Self {
        Kref(base)
    }
}

impl Kref {
    /// Its address (`&obj->kref`), for storing it or for `container_of!`.
    pub fn addr(self) -> Ptr {
        self.0
    }

    /// The kref at `p` (a `struct kref *` read from memory).
    pub fn from_ptr(p: Ptr) -> Self {
        Kref(p)
    }

    /// `kref->refcount`.
    pub fn refcount(self) -> Refcount {
        Refcount(self.0)
    }
}

/// `kref_init(kref)`: one reference (`refcount_set(&kref->refcount, 1)`).
#[track_caller]
pub fn kref_init(kref: Kref) {
    refcount_set(kref.refcount(), 1)
}

/// `kref_get(kref)`: `refcount_inc`, unordered; the caller must already hold a reference.
#[track_caller]
pub fn kref_get(kref: Kref) {
    let _f = KFunc::enter("kref_get");
    refcount_inc(kref.refcount())
}

/// `kref_get_unless_zero(kref)`: `refcount_inc_not_zero`. Safe only while the memory is known
/// to stay valid (a lock covering the free, or an RCU read side with a deferred free): on a freed
/// kref it is a use-after-free like any other access.
#[track_caller]
pub fn kref_get_unless_zero(kref: Kref) -> bool {
    let _f = KFunc::enter("kref_get_unless_zero");
    refcount_inc_not_zero(kref.refcount())
}

/// `kref_put(kref, release)`: drops a reference (`refcount_dec_and_test`) and calls `release` on
/// the last one; returns whether it did.
#[track_caller]
pub fn kref_put(kref: Kref, release: impl FnOnce()) -> bool {
    let last = {
        let _f = KFunc::enter("kref_put");
        refcount_dec_and_test(kref.refcount())
    };
    if last {
        release();
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::{kfree, kzalloc, spawn_cpu};
    use crate::Explorer;

    crate::kstruct! {
        struct Obj("obj") {
            x: Word<u64>,
            y: Word<u64>,
            r: Refcount,
        }
    }

    /// `refcount_dec_and_test` without its `smp_acquire__after_ctrl_dep()`: the v4.11-v4.20
    /// contract, a release and a control dependency.
    fn dec_and_test_release_only(r: Refcount) -> bool {
        let old = int(engine::access(
            r.0 .0,
            Kind::RmwRelease,
            "refcount_dec_and_test",
            true,
            Location::caller(),
            |v| (v, Some(word(int(v).wrapping_sub(1)))),
        ));
        old == 1
    }

    /// Two holders write the object, then put; the last one reads both fields in the release
    /// function and frees.
    fn holders<const ACQUIRE: bool>() {
        fn put<const ACQUIRE: bool>(o: Obj) {
            let last = if ACQUIRE {
                refcount_dec_and_test(o.r())
            } else {
                dec_and_test_release_only(o.r())
            };
            if last {
                let _ = o.x().load();
                let _ = o.y().load();
                kfree(o);
            }
        }
        let o: Obj = kzalloc();
        refcount_set(o.r(), 2);
        let a = spawn_cpu("a", move || {
            o.x().store(1);
            put::<ACQUIRE>(o);
        });
        let b = spawn_cpu("b", move || {
            o.y().store(1);
            put::<ACQUIRE>(o);
        });
        a.join();
        b.join();
    }

    fn explore(body: fn()) -> Option<crate::Failure> {
        Explorer::from_fn("holders", body)
            .scheduler(crate::sched::SchedulerSpec::Random { seed: 7 })
            .budget(crate::Budget::Executions(2_000))
            .run()
            .failure
    }

    #[test]
    fn the_release_function_races_without_the_acquire_on_zero() {
        assert!(explore(holders::<true>).is_none());
        let f = explore(holders::<false>).expect("no race without the acquire");
        assert_eq!(f.kind, FailureKind::DataRace, "{}", f.message);
    }
}
