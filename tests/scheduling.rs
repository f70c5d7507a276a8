//! Where the schedulers may preempt: a step on an object no other CPU can reach yet is local
//! (not worth a preemption), and an object stops being local the moment a pointer to it is
//! stored, even for the CPU that allocated it.

use kgrace::kernel::*;
use kgrace::sched::SchedulerSpec;
use kgrace::{Budget, Explorer, FailureKind};

kgrace::kstruct! {
    struct Gp("gp") {
        ptr: Word<Obj>,
    }
}

kgrace::kstruct! {
    struct Obj("obj") {
        val: Word<u64>,
    }
}

/// Publish, then initialize: a reader between the two sees a zero `val`.
fn publish_then_init() {
    let gp: Gp = kzalloc();
    let writer = spawn_cpu("writer", move || {
        let o: Obj = kzalloc();
        rcu_assign_pointer(gp.ptr(), o);
        write_once(o.val(), 1);
    });
    let reader = spawn_cpu("reader", move || {
        let p = rcu_dereference(gp.ptr());
        bug_on(
            !p.is_null() && read_once(p.val()) == 0,
            "reader saw an uninitialized object",
        );
    });
    writer.join();
    reader.join();
    kfree(gp.ptr().load());
    kfree(gp);
}

#[test]
fn every_scheduler_finds_a_reader_between_publish_and_initialize() {
    for spec in [
        SchedulerSpec::Portfolio { depth: 3, seed: 1 },
        SchedulerSpec::Pct { depth: 3, seed: 1 },
        SchedulerSpec::Uniform { seed: 1 },
        SchedulerSpec::Stall { depth: 3, seed: 1 },
        SchedulerSpec::Random { seed: 1 },
    ] {
        let r = Explorer::from_fn("publish-then-init", publish_then_init)
            .scheduler(spec)
            .budget(Budget::Executions(2_000))
            .run();
        let f = r
            .failure
            .unwrap_or_else(|| panic!("{spec}: the window was never scheduled"));
        assert_eq!(f.kind, FailureKind::Bug, "{spec}: {}", f.message);
    }
}
