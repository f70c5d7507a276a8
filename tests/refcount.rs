//! `refcount_t` and `kref`: the kernel's orderings (weaker than the `atomic_t` operations they
//! replaced) and refcount_t's use-after-free warnings. Each ordering test pairs code that relies
//! on an ordering the kernel does not give, which must be reported, with the same shape using the
//! ordering the kernel does give, which must stay clean.

use kgrace::kernel::*;
use kgrace::sched::SchedulerSpec;
use kgrace::{Budget, Explorer, Failure, FailureKind};

kgrace::kstruct! {
    struct Data("data") {
        x: Word<u64>,
        y: Word<u64>,
        flag: Word<u64>,
        /// An `atomic_t` counter, for the fully ordered twins.
        count: Word<i64>,
        r: Refcount,
        kref: Kref,
    }
}

fn explore(name: &'static str, body: fn()) -> Option<Failure> {
    Explorer::from_fn(name, body)
        .scheduler(SchedulerSpec::Random { seed: 7 })
        .budget(Budget::Executions(2_000))
        .run()
        .failure
}

fn two_cpus(d: Data, a: fn(Data), b: fn(Data)) {
    let c1 = spawn_cpu("a", move || a(d));
    let c2 = spawn_cpu("b", move || b(d));
    c1.join();
    c2.join();
    kfree(d);
}

fn new_data() -> Data {
    let d: Data = kzalloc();
    refcount_set(d.r(), 2);
    atomic_set(d.count(), 2);
    d
}

fn assert_race_on_x(f: Option<Failure>) {
    let f = f.expect("the race was not reported");
    assert_eq!(f.kind, FailureKind::DataRace, "{}", f.message);
    assert!(f.message.contains("data#1.x"), "{}", f.message);
}

fn assert_clean(f: Option<Failure>) {
    if let Some(f) = f {
        panic!("{}", f.message);
    }
}

/// Reads `x` once the flag says the writer is done.
fn flag_then_read(d: Data) {
    if smp_load_acquire(d.flag()) == 1 {
        let _ = d.x().load();
    }
}

#[test]
fn refcount_dec_and_test_is_a_release_not_a_full_barrier() {
    // `x = 1; atomic_dec_and_test(&count); WRITE_ONCE(flag, 1)`: the fully ordered decrement
    // orders the store to x before the flag.
    assert_clean(explore("atomic-dec-and-test", || {
        two_cpus(
            new_data(),
            |d| {
                d.x().store(1);
                atomic_dec_and_test(d.count());
                write_once(d.flag(), 1);
            },
            flag_then_read,
        )
    }));
    // The same code converted to refcount_t: a release orders x before the decrement, not before
    // the flag that follows it. A data race.
    assert_race_on_x(explore("refcount-dec-and-test", || {
        two_cpus(
            new_data(),
            |d| {
                d.x().store(1);
                refcount_dec_and_test(d.r());
                write_once(d.flag(), 1);
            },
            flag_then_read,
        )
    }));
    // With the ordering refcount_t code must ask for: the flag published with a release.
    assert_clean(explore("refcount-dec-and-test-release", || {
        two_cpus(
            new_data(),
            |d| {
                d.x().store(1);
                refcount_dec_and_test(d.r());
                smp_store_release(d.flag(), 1);
            },
            flag_then_read,
        )
    }));
}

/// The writer of a lookup whose objects are found by their counter (SLAB_TYPESAFE_BY_RCU style):
/// initialize, then make the counter non-zero after `smp_wmb()`.
fn init_then_count(d: Data) {
    d.x().store(42);
    smp_wmb();
    refcount_set(d.r(), 1);
    atomic_set(d.count(), 1);
}

#[test]
fn refcount_inc_not_zero_orders_nothing_on_success() {
    fn new_zeroed() -> Data {
        kzalloc()
    }
    // `atomic_inc_not_zero` (here its `atomic_add_unless` shape): a successful cmpxchg is fully
    // ordered, so the reader sees the initialization.
    assert_clean(explore("atomic-inc-not-zero", || {
        two_cpus(new_zeroed(), init_then_count, |d| {
            let old = atomic_read(d.count());
            if old != 0 && atomic_cmpxchg(d.count(), old, old + 1) == old {
                let _ = d.x().load();
            }
        })
    }));
    // refcount_inc_not_zero gives only a control dependency, which orders no later load.
    assert_race_on_x(explore("refcount-inc-not-zero", || {
        two_cpus(new_zeroed(), init_then_count, |d| {
            if refcount_inc_not_zero(d.r()) {
                let _ = d.x().load();
            }
        })
    }));
    // The fix the kernel asks for: an acquire after the control dependency.
    assert_clean(explore("refcount-inc-not-zero-acquire", || {
        two_cpus(new_zeroed(), init_then_count, |d| {
            if refcount_inc_not_zero(d.r()) {
                smp_acquire__after_ctrl_dep();
                let _ = d.x().load();
            }
        })
    }));
}

#[test]
fn refcount_inc_orders_nothing() {
    fn new_one() -> Data {
        let d: Data = kzalloc();
        refcount_set(d.r(), 1);
        d
    }
    // `x = 1; refcount_inc(&r)` does not publish x to a CPU that sees the new count.
    assert_race_on_x(explore("refcount-inc", || {
        two_cpus(
            new_one(),
            |d| {
                d.x().store(1);
                refcount_inc(d.r());
            },
            |d| {
                if refcount_read(d.r()) == 2 {
                    smp_rmb();
                    let _ = d.x().load();
                }
            },
        )
    }));
}

#[test]
fn the_last_kref_put_sees_what_every_holder_did_before_its_put() {
    // Two holders write the object, then put; whichever drops the last reference reads both
    // fields in the release function and frees: release on every put, acquire on the last.
    fn release(d: Data) {
        let _ = d.x().load();
        let _ = d.y().load();
        kfree(d);
    }
    assert_clean(explore("last-put", || {
        let d: Data = kzalloc();
        kref_init(d.kref());
        kref_get(d.kref());
        let a = spawn_cpu("a", move || {
            d.x().store(1);
            kref_put(d.kref(), || release(d));
        });
        let b = spawn_cpu("b", move || {
            d.y().store(1);
            kref_put(d.kref(), || release(d));
        });
        a.join();
        b.join();
    }));
}

#[test]
fn kref_get_unless_zero_fails_on_zero_and_kref_put_releases_once() {
    assert_clean(explore("get-unless-zero", || {
        let d: Data = kzalloc();
        kref_init(d.kref());
        bug_on(!kref_get_unless_zero(d.kref()), "1 -> 2 failed");
        bug_on(kref_put(d.kref(), || unreachable!()), "2 -> 1 released");
        let mut released = false;
        bug_on(!kref_put(d.kref(), || released = true), "1 -> 0 did not release");
        bug_on(!released, "release not called");
        bug_on(kref_get_unless_zero(d.kref()), "0 -> 1 succeeded");
        bug_on(refcount_read(d.kref().refcount()) != 0, "count changed");
        kfree(d);
    }));
}

#[test]
fn refcount_t_warns_on_addition_on_zero() {
    let f = explore("addition-on-0", || {
        let d: Data = kzalloc();
        kref_init(d.kref());
        kref_put(d.kref(), || {});
        kref_get(d.kref());
        kfree(d);
    })
    .expect("no warning");
    assert_eq!(f.kind, FailureKind::UseAfterFree, "{}", f.message);
    assert!(
        f.message.contains("refcount_t: addition on 0; use-after-free."),
        "{}",
        f.message
    );
    assert!(f.inside("kref_get"), "{}", f.message);
}

#[test]
fn refcount_t_warns_on_underflow() {
    let f = explore("underflow", || {
        let d: Data = kzalloc();
        refcount_set(d.r(), 1);
        refcount_dec_and_test(d.r());
        refcount_dec_and_test(d.r());
        kfree(d);
    })
    .expect("no warning");
    assert_eq!(f.kind, FailureKind::UseAfterFree, "{}", f.message);
    assert!(
        f.message.contains("refcount_t: underflow; use-after-free."),
        "{}",
        f.message
    );
}

#[test]
fn a_saturated_counter_stays_saturated_and_warns() {
    let f = explore("saturated", || {
        let d: Data = kzalloc();
        refcount_set(d.r(), i32::MAX as i64);
        refcount_inc(d.r());
        kfree(d);
    })
    .expect("no warning");
    assert_eq!(f.kind, FailureKind::Bug, "{}", f.message);
    assert!(
        f.message.contains("refcount_t: saturated; leaking memory."),
        "{}",
        f.message
    );
}

#[test]
fn kref_get_of_a_freed_object_is_a_kasan_use_after_free() {
    let f = explore("freed", || {
        let d: Data = kzalloc();
        kref_init(d.kref());
        kref_put(d.kref(), || kfree(d));
        kref_get(d.kref());
    })
    .expect("not caught");
    assert_eq!(f.kind, FailureKind::UseAfterFree, "{}", f.message);
    assert!(f.message.contains("KASAN"), "{}", f.message);
    assert!(f.message.contains("data#1.kref.refcount"), "{}", f.message);
}
