//! The heap oracles: use-after-free (KASAN style), double free, leaks, NULL dereference, and
//! deadlock detection.

use kgrace::kernel::*;
use kgrace::sched::SchedulerSpec;
use kgrace::{Budget, Explorer, Failure, FailureKind};

kgrace::kstruct! {
    struct Obj("obj") {
        val: Word<u64>,
        next: Word<Obj>,
        lock: Spinlock,
    }
}

fn explore(name: &'static str, body: fn()) -> Option<Failure> {
    Explorer::from_fn(name, body)
        .scheduler(SchedulerSpec::Pct { depth: 3, seed: 1 })
        .budget(Budget::Executions(500))
        .run()
        .failure
}

#[test]
fn double_free_is_caught() {
    let f = explore("double-free", || {
        let o: Obj = kzalloc();
        kfree(o);
        kfree(o);
    })
    .expect("not caught");
    assert_eq!(f.kind, FailureKind::DoubleFree);
    assert!(
        f.message.contains("double-free") && f.message.contains("obj#1"),
        "{}",
        f.message
    );
}

#[test]
fn a_leak_is_caught_unless_declared() {
    let f = explore("leak", || {
        let _o: Obj = kzalloc();
    })
    .expect("not caught");
    assert_eq!(f.kind, FailureKind::Leak);
    assert!(
        f.message.contains("kmemleak") && f.message.contains("obj#1"),
        "{}",
        f.message
    );
    let f = explore("not-leak", || {
        let o: Obj = kzalloc();
        kmemleak_not_leak(o);
    });
    assert!(f.is_none(), "{}", f.unwrap().message);
}

#[test]
fn use_after_free_names_field_access_cpu_and_steps() {
    let f = explore("uaf", || {
        let o: Obj = kzalloc();
        let c = spawn_cpu("freer", move || kfree(o));
        c.join();
        o.val().store(1);
    })
    .expect("not caught");
    assert_eq!(f.kind, FailureKind::UseAfterFree);
    for want in [
        "write of obj#1.val",
        "CPU0 setup",
        "allocated by CPU0 setup at step 1",
        "freed by CPU1 freer",
    ] {
        assert!(f.message.contains(want), "missing {want:?} in {}", f.message);
    }
}

#[test]
fn a_null_pointer_dereference_faults() {
    let f = explore("null", || {
        let o: Obj = kzalloc();
        kmemleak_not_leak(o);
        let next = o.next().load();
        next.val().store(1);
    })
    .expect("not caught");
    assert_eq!(f.kind, FailureKind::NullDeref);
}

#[test]
fn an_abba_deadlock_is_reported_not_hung() {
    kgrace::kstruct! {
        struct Two("two") { a: Spinlock, b: Spinlock }
    }
    let f = Explorer::from_fn("abba", || {
        let t: Two = kzalloc();
        kmemleak_not_leak(t);
        let c1 = spawn_cpu("ab", move || {
            spin_lock(t.a());
            spin_lock(t.b());
            spin_unlock(t.b());
            spin_unlock(t.a());
        });
        let c2 = spawn_cpu("ba", move || {
            spin_lock(t.b());
            spin_lock(t.a());
            spin_unlock(t.a());
            spin_unlock(t.b());
        });
        c1.join();
        c2.join();
    })
    .scheduler(SchedulerSpec::Random { seed: 3 })
    .budget(Budget::Executions(2_000))
    .run()
    .failure
    .expect("deadlock not found");
    assert_eq!(f.kind, FailureKind::Deadlock);
    assert!(f.message.contains("waiting on two#1."), "{}", f.message);
}
