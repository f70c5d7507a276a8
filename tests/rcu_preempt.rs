//! RCU with and without `CONFIG_PREEMPT`: with it, `synchronize_rcu` waits only for
//! `rcu_read_lock` sections; without it, also for every other CPU running kernel code to pass a
//! quiescent state (block, sleep, finish), so code that does not sleep is an implicit reader.
//! Each passing model has its mutant: the same code with preemption on fails.

use kgrace::harness::{Config, MemoryModel};
use kgrace::kernel::*;
use kgrace::sched::SchedulerSpec;
use kgrace::{Budget, Explorer, FailureKind, Report};

kgrace::kstruct! {
    struct Gp("gp") {
        ptr: Word<Obj>,
        lock: Spinlock,
        started: Word<u64>,
        done: Completion,
    }
}

kgrace::kstruct! {
    struct Obj("obj") {
        val: Word<u64>,
    }
}

const PREEMPT: Config = Config::DEFAULT;
const NO_PREEMPT: Config = Config::DEFAULT.with_preempt(false);

fn explore(name: &'static str, config: Config, body: fn(), memory: MemoryModel, seed: u64) -> Report {
    Explorer::from_fn_with(name, config, body)
        .memory(memory)
        .scheduler(SchedulerSpec::Portfolio { depth: 3, seed })
        .budget(Budget::Executions(3_000))
        .run()
}

fn assert_clean(name: &'static str, config: Config, body: fn()) {
    for memory in MemoryModel::ALL {
        for seed in 1..=5 {
            let r = explore(name, config, body, memory, seed);
            assert_eq!(r.executions, 3_000);
            if let Some(f) = r.failure {
                panic!("{name} under {memory}, seed {seed}:\n{}", f.message);
            }
        }
    }
}

/// The object freed after the grace period is used after the free, or the free races with the
/// use: found for every seed.
fn assert_lifetime_bug(name: &'static str, config: Config, body: fn()) {
    for memory in MemoryModel::ALL {
        for seed in 1..=5 {
            let f = explore(name, config, body, memory, seed)
                .failure
                .unwrap_or_else(|| panic!("{name} under {memory}, seed {seed}: not found"));
            assert!(
                matches!(f.kind, FailureKind::UseAfterFree | FailureKind::DataRace),
                "{name} under {memory}, seed {seed}:\n{}",
                f.message
            );
            assert!(f.message.contains("obj#"), "{}", f.message);
        }
    }
}

/// The reader uses the object inside a spinlock-held region, with no `rcu_read_lock`; the updater
/// unpublishes it, waits for a grace period and frees it.
fn spinlocked_reader() {
    let gp: Gp = kzalloc();
    spin_lock_init(gp.lock());
    let old: Obj = kzalloc();
    rcu_assign_pointer(gp.ptr(), old);
    let reader = spawn_cpu("reader", move || {
        spin_lock(gp.lock());
        let p = rcu_dereference(gp.ptr());
        if !p.is_null() {
            let _ = p.val().load();
            let _ = p.val().load();
        }
        spin_unlock(gp.lock());
    });
    let updater = spawn_cpu("updater", move || {
        let old = rcu_dereference_protected(gp.ptr());
        rcu_assign_pointer(gp.ptr(), Obj::NULL);
        synchronize_rcu();
        kfree(old);
    });
    reader.join();
    updater.join();
    kfree(gp);
}

#[test]
fn without_preempt_a_spinlocked_region_is_an_implicit_reader() {
    assert_clean("spinlocked-nopreempt", NO_PREEMPT, spinlocked_reader);
}

#[test]
fn with_preempt_the_same_region_is_not_waited_for() {
    assert_lifetime_bug("spinlocked-preempt", PREEMPT, spinlocked_reader);
}

/// The reader uses the object, then sleeps until the updater, after its grace period and the
/// free, completes: a grace period that waited for the reader's return would never end.
fn reader_then_sleeps() {
    let gp: Gp = kzalloc();
    init_completion(gp.done());
    let old: Obj = kzalloc();
    rcu_assign_pointer(gp.ptr(), old);
    let reader = spawn_cpu("reader", move || {
        let p = rcu_dereference(gp.ptr());
        if !p.is_null() {
            let _ = p.val().load();
        }
        // Sleeping is a quiescent state: the object is no longer used after it.
        wait_for_completion(gp.done());
    });
    let updater = spawn_cpu("updater", move || {
        let old = rcu_dereference_protected(gp.ptr());
        rcu_assign_pointer(gp.ptr(), Obj::NULL);
        synchronize_rcu();
        kfree(old);
        complete(gp.done());
    });
    reader.join();
    updater.join();
    kfree(gp);
}

#[test]
fn without_preempt_sleeping_is_a_quiescent_state_and_ends_the_wait() {
    // No deadlock: the grace period ends at the reader's sleep; no use-after-free: what the reader
    // did before it is ordered before the free.
    assert_clean("sleeper-nopreempt", NO_PREEMPT, reader_then_sleeps);
}

#[test]
fn with_preempt_the_use_before_the_sleep_is_not_waited_for() {
    assert_lifetime_bug("sleeper-preempt", PREEMPT, reader_then_sleeps);
}

/// The updater holds a spinlock across `synchronize_rcu` (sleeping in atomic context) while the
/// other CPU, already running, spins on that lock.
fn spinner_waits_for_the_caller() {
    let gp: Gp = kzalloc();
    spin_lock_init(gp.lock());
    let spinner = spawn_cpu("spinner", move || {
        write_once(gp.started(), 1);
        spin_lock(gp.lock());
        spin_unlock(gp.lock());
    });
    let updater = spawn_cpu("updater", move || {
        spin_lock(gp.lock());
        while read_once(gp.started()) == 0 {
            cpu_relax();
        }
        synchronize_rcu();
        spin_unlock(gp.lock());
    });
    spinner.join();
    updater.join();
    kfree(gp);
}

#[test]
fn without_preempt_a_grace_period_waiting_for_a_spinner_that_waits_for_the_caller_deadlocks() {
    for memory in MemoryModel::ALL {
        for seed in 1..=5 {
            let f = explore(
                "spinner-nopreempt",
                NO_PREEMPT,
                spinner_waits_for_the_caller,
                memory,
                seed,
            )
            .failure
            .unwrap_or_else(|| panic!("under {memory}, seed {seed}: no deadlock"));
            assert_eq!(f.kind, FailureKind::Deadlock, "{}", f.message);
            assert!(
                f.message.contains("waiting for an RCU grace period") && f.message.contains("waiting on gp#"),
                "{}",
                f.message
            );
        }
    }
}

#[test]
fn with_preempt_the_spinner_is_not_waited_for() {
    assert_clean("spinner-preempt", PREEMPT, spinner_waits_for_the_caller);
}

/// SRCU does not change with the switch: a sleeping or spinning CPU outside an SRCU section is
/// never waited for, and one inside is.
fn srcu_spinner() {
    let gp: Gp = kzalloc();
    spin_lock_init(gp.lock());
    let ssp = init_srcu_struct(SrcuFlavor::Guarantee);
    let spinner = spawn_cpu("spinner", move || {
        write_once(gp.started(), 1);
        spin_lock(gp.lock());
        spin_unlock(gp.lock());
    });
    let updater = spawn_cpu("updater", move || {
        spin_lock(gp.lock());
        while read_once(gp.started()) == 0 {
            cpu_relax();
        }
        synchronize_srcu(ssp);
        spin_unlock(gp.lock());
    });
    spinner.join();
    updater.join();
    cleanup_srcu_struct(ssp);
    kfree(gp);
}

#[test]
fn without_preempt_srcu_still_waits_only_for_its_readers() {
    assert_clean("srcu-nopreempt", NO_PREEMPT, srcu_spinner);
}
