//! The data-race detector: KCSAN's rule over happens-before. Every silent case is paired with a
//! twin that differs only in the ordering and must be reported under the same run.

use kgrace::kernel::*;
use kgrace::sched::SchedulerSpec;
use kgrace::{Budget, Explorer, Failure, FailureKind};

kgrace::kstruct! {
    struct Data("data") {
        x: Word<u64>,
        flag: Word<u64>,
        lock: Spinlock,
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
    spin_lock_init(d.lock());
    d
}

fn assert_race(f: Option<Failure>, want: &str) {
    let f = f.expect("the race was not reported");
    assert_eq!(f.kind, FailureKind::DataRace, "{}", f.message);
    assert!(f.message.contains(want), "{}", f.message);
    assert!(
        f.message.contains("data#1.x"),
        "names the location: {}",
        f.message
    );
}

#[test]
fn plain_write_and_plain_read_race() {
    assert_race(
        explore("plain-plain", || {
            two_cpus(
                new_data(),
                |d| d.x().store(1),
                |d| {
                    let _ = d.x().load();
                },
            )
        }),
        "plain",
    );
}

#[test]
fn plain_write_and_plain_write_race() {
    assert_race(
        explore("plain-plain-w", || {
            two_cpus(new_data(), |d| d.x().store(1), |d| d.x().store(2))
        }),
        "plain write",
    );
}

#[test]
fn plain_write_and_read_once_race() {
    assert_race(
        explore("plain-marked", || {
            two_cpus(
                new_data(),
                |d| d.x().store(1),
                |d| {
                    let _ = read_once(d.x());
                },
            )
        }),
        "marked read",
    );
}

#[test]
fn read_once_and_write_once_do_not_race() {
    let f = explore("once-once", || {
        two_cpus(
            new_data(),
            |d| write_once(d.x(), 1),
            |d| {
                let _ = read_once(d.x());
            },
        )
    });
    assert!(f.is_none(), "{}", f.unwrap().message);
}

#[test]
fn accesses_under_one_spinlock_do_not_race_and_without_it_they_do() {
    fn locked_write(d: Data) {
        spin_lock(d.lock());
        d.x().store(1);
        spin_unlock(d.lock());
    }
    fn locked_read(d: Data) {
        spin_lock(d.lock());
        let _ = d.x().load();
        spin_unlock(d.lock());
    }
    let f = explore("locked", || two_cpus(new_data(), locked_write, locked_read));
    assert!(f.is_none(), "{}", f.unwrap().message);
    assert_race(
        explore("half-locked", || {
            two_cpus(new_data(), locked_write, |d| {
                let _ = d.x().load();
            })
        }),
        "plain",
    );
}

#[test]
fn message_passing_with_release_acquire_does_not_race_and_with_read_once_it_does() {
    fn publish(d: Data) {
        d.x().store(42);
        smp_store_release(d.flag(), 1);
    }
    let f = explore("mp-acquire", || {
        two_cpus(new_data(), publish, |d| {
            if smp_load_acquire(d.flag()) == 1 {
                bug_on(d.x().load() != 42, "message lost");
            }
        })
    });
    assert!(f.is_none(), "{}", f.unwrap().message);
    assert_race(
        explore("mp-once", || {
            two_cpus(new_data(), publish, |d| {
                if read_once(d.flag()) == 1 {
                    let _ = d.x().load();
                }
            })
        }),
        "plain read",
    );
}

#[test]
fn smp_wmb_and_smp_rmb_order_message_passing() {
    fn publish(d: Data) {
        d.x().store(42);
        smp_wmb();
        write_once(d.flag(), 1);
    }
    let f = explore("mp-fences", || {
        two_cpus(new_data(), publish, |d| {
            if read_once(d.flag()) == 1 {
                smp_rmb();
                let _ = d.x().load();
            }
        })
    });
    assert!(f.is_none(), "{}", f.unwrap().message);
}

#[test]
fn spawn_and_join_order_accesses() {
    let f = explore("spawn-join", || {
        let d = new_data();
        d.x().store(1);
        let c = spawn_cpu("child", move || d.x().store(2));
        c.join();
        d.x().store(3);
        kfree(d);
    });
    assert!(f.is_none(), "{}", f.unwrap().message);
}

#[test]
fn taking_a_lock_is_an_acquire_not_a_full_barrier() {
    // `if (READ_ONCE(flag)) { spin_lock(); r = x; }` against `x = 1; smp_store_release(&flag, 1)`:
    // the lock's acquire orders nothing before it, so the flag read (not an acquire) leaves the
    // plain accesses to x unordered: an LKMM data race.
    fn publish(d: Data) {
        d.x().store(1);
        smp_store_release(d.flag(), 1);
    }
    fn lock_then_read(d: Data) {
        if read_once(d.flag()) == 1 {
            spin_lock(d.lock());
            let _ = d.x().load();
            spin_unlock(d.lock());
        }
    }
    fn acquire_then_read(d: Data) {
        if smp_load_acquire(d.flag()) == 1 {
            spin_lock(d.lock());
            let _ = d.x().load();
            spin_unlock(d.lock());
        }
    }
    assert_race(
        explore("lock-acquire", || two_cpus(new_data(), publish, lock_then_read)),
        "data#",
    );
    assert!(explore("acquire", || two_cpus(new_data(), publish, acquire_then_read)).is_none());
}

#[test]
fn a_marked_store_read_by_a_marked_load_is_ordered_before_what_a_fence_orders_after_it() {
    // LKMM: `rfe` is part of happens-before, so the WRITE_ONCE itself is ordered before the
    // plain store that `smp_mb` orders after the READ_ONCE that read it.
    assert_clean(explore("rfe-then-mb", || {
        two_cpus(
            new_data(),
            |d| write_once(d.x(), 1),
            |d| {
                if read_once(d.x()) == 1 {
                    smp_mb();
                    d.x().store(2);
                }
            },
        )
    }));
    // Without the fence nothing orders the plain store after the load (a control dependency
    // does not bound a plain access in LKMM).
    assert_race(
        explore("rfe-no-fence", || {
            two_cpus(
                new_data(),
                |d| write_once(d.x(), 1),
                |d| {
                    if read_once(d.x()) == 1 {
                        d.x().store(2);
                    }
                },
            )
        }),
        "races with an earlier marked write",
    );
}

#[test]
fn reading_a_marked_store_does_not_order_the_writers_earlier_plain_store() {
    // `x = 1; WRITE_ONCE(flag, 1)` || `if (READ_ONCE(flag)) { smp_mb(); r = x; }`: the flag's
    // store is ordered before the reader, the plain store to x before it is not (no smp_wmb).
    assert_race(
        explore("marked-store-po-before", || {
            two_cpus(
                new_data(),
                |d| {
                    d.x().store(1);
                    write_once(d.flag(), 1);
                },
                |d| {
                    if read_once(d.flag()) == 1 {
                        smp_mb();
                        let _ = d.x().load();
                    }
                },
            )
        }),
        "plain",
    );
    // With smp_wmb between them it is.
    assert_clean(explore("marked-store-wmb", || {
        two_cpus(
            new_data(),
            |d| {
                d.x().store(1);
                smp_wmb();
                write_once(d.flag(), 1);
            },
            |d| {
                if read_once(d.flag()) == 1 {
                    smp_mb();
                    let _ = d.x().load();
                }
            },
        )
    }));
}

fn assert_clean(f: Option<Failure>) {
    if let Some(f) = f {
        panic!("{}", f.message);
    }
}
