//! The RCU and SRCU models on their own: grace periods wait for exactly the readers they must,
//! the grace-period oracle fires on a broken SRCU and stays silent on the kernel's, refetching
//! re-loads, and a wait that can never end is a deadlock, not a step-limit accident.

use kgrace::harness::Config;
use kgrace::kernel::*;
use kgrace::sched::SchedulerSpec;
use kgrace::{Budget, Explorer, FailureKind};

mod common;
use common::migrating_reader;

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

fn explore(name: &'static str, config: Config, body: fn(), seed: u64) -> kgrace::Report {
    Explorer::from_fn_with(name, config, body)
        .scheduler(SchedulerSpec::Portfolio { depth: 3, seed })
        .budget(Budget::Executions(3_000))
        .run()
}

/// The classic RCU update: publish a new object, wait, free the old one; the reader uses the
/// pointer inside `rcu_read_lock`.
fn rcu_update(wait: bool) {
    let gp: Gp = kzalloc();
    let old: Obj = kzalloc();
    rcu_assign_pointer(gp.ptr(), old);
    let reader = spawn_cpu("reader", move || {
        rcu_read_lock();
        let p = rcu_dereference(gp.ptr());
        let _ = p.val().load();
        let _ = p.val().load();
        rcu_read_unlock();
    });
    let updater = spawn_cpu("updater", move || {
        let new: Obj = kzalloc();
        new.val().store(1);
        let old = rcu_dereference_protected(gp.ptr());
        rcu_assign_pointer(gp.ptr(), new);
        if wait {
            synchronize_rcu();
        }
        kfree(old);
    });
    reader.join();
    updater.join();
    kfree(gp.ptr().load());
    kfree(gp);
}

#[test]
fn synchronize_rcu_waits_for_readers_and_freeing_without_it_is_caught() {
    for seed in 1..=5 {
        let r = explore("rcu", Config::DEFAULT, || rcu_update(true), seed);
        assert!(r.failure.is_none(), "seed {seed}: {}", r.failure.unwrap().message);
        let r = explore("rcu-no-wait", Config::DEFAULT, || rcu_update(false), seed);
        // The free racing with the reader's load (KCSAN), or the load after the free (KASAN).
        assert!(
            matches!(
                r.failure.map(|f| f.kind),
                Some(FailureKind::UseAfterFree | FailureKind::DataRace)
            ),
            "seed {seed}"
        );
    }
}

/// One reader section and two concurrent `synchronize_srcu` callers on the given SRCU, with
/// nothing freed: only the grace-period oracle can object.
fn two_callers(flavor: SrcuFlavor) {
    let ssp = init_srcu_struct(flavor);
    let reader = spawn_cpu("reader", move || {
        let idx = srcu_read_lock(ssp);
        cpu_relax();
        srcu_read_unlock(ssp, idx);
    });
    let a = spawn_cpu("A", move || synchronize_srcu(ssp));
    let b = spawn_cpu("B", move || synchronize_srcu(ssp));
    reader.join();
    a.join();
    b.join();
    cleanup_srcu_struct(ssp);
}

const ORACLE: Config = Config::DEFAULT.with_gp_oracle(true);

#[test]
fn the_grace_period_oracle_catches_naive_srcu_and_passes_classic_and_tree() {
    let r = explore("naive", ORACLE, || two_callers(SrcuFlavor::Naive), 1);
    let f = r
        .failure
        .expect("naive SRCU with concurrent callers breaks the guarantee");
    assert_eq!(f.kind, FailureKind::GracePeriodViolation);
    assert!(
        f.message.contains("still inside the read-side critical section"),
        "{}",
        f.message
    );
    for seed in 1..=5 {
        for (name, body) in [
            ("classic", (|| two_callers(SrcuFlavor::Classic)) as fn()),
            ("classic v3.5+", || two_callers(SrcuFlavor::ClassicBatch)),
            ("tree", || two_callers(SrcuFlavor::Tree)),
        ] {
            let r = explore(name, ORACLE, body, seed);
            assert!(
                r.failure.is_none(),
                "{name} seed {seed}: {}",
                r.failure.unwrap().message
            );
        }
    }
}

#[test]
fn without_the_oracle_the_same_naive_run_is_silent() {
    // Nothing is freed, so only the oracle could see the early return.
    let r = explore("naive", Config::DEFAULT, || two_callers(SrcuFlavor::Naive), 1);
    assert!(r.failure.is_none());
}

#[test]
fn synchronize_srcu_inside_its_own_read_section_is_a_deadlock() {
    let cases: [(&str, fn()); 3] = [
        ("classic", || self_deadlock(SrcuFlavor::Classic)),
        ("classic v3.5+", || self_deadlock(SrcuFlavor::ClassicBatch)),
        ("tree", || self_deadlock(SrcuFlavor::Tree)),
    ];
    for (name, body) in cases {
        let r = explore("self", Config::DEFAULT, body, 1);
        let f = r
            .failure
            .expect("a synchronize inside its own read side never returns");
        assert_eq!(f.kind, FailureKind::Deadlock, "{name}: {}", f.message);
    }
}

fn self_deadlock(flavor: SrcuFlavor) {
    let ssp = init_srcu_struct(flavor);
    let cpu = spawn_cpu("self", move || {
        let idx = srcu_read_lock(ssp);
        synchronize_srcu(ssp);
        srcu_read_unlock(ssp, idx);
    });
    cpu.join();
    cleanup_srcu_struct(ssp);
}

/// A plain pointer tested for NULL and then used, while another CPU clears it.
fn refetched_use() {
    let gp: Gp = kzalloc();
    let obj: Obj = kzalloc();
    gp.ptr().store(obj);
    let reader = spawn_cpu("reader", move || {
        let p = gp.ptr().load();
        if !p.is_null() {
            let _ = gp.ptr().refetch(p).val().load();
        }
    });
    let clear = spawn_cpu("clear", move || gp.ptr().store(Obj::NULL));
    reader.join();
    clear.join();
    kfree(obj);
    kfree(gp);
}

#[test]
fn refetch_mode_reloads_a_marked_plain_load() {
    let refetch = Config::DEFAULT.with_refetch(true).with_kcsan(false);
    let r = explore("refetch", refetch, refetched_use, 1);
    assert_eq!(r.failure.map(|f| f.kind), Some(FailureKind::NullDeref));
    let no_refetch = Config::DEFAULT.with_kcsan(false);
    let r = explore("no-refetch", no_refetch, refetched_use, 1);
    assert!(r.failure.is_none(), "{}", r.failure.unwrap().message);
    // With KCSAN on, the unordered plain accesses are reported whatever the compiler does.
    let r = explore("kcsan", Config::DEFAULT, refetched_use, 1);
    assert_eq!(r.failure.map(|f| f.kind), Some(FailureKind::DataRace));
}

/// A reader and one updater that synchronizes twice: the straggler shape (B1′) that only the scan
/// of the inactive index catches.
fn straggler(flavor: SrcuFlavor) {
    let ssp = init_srcu_struct(flavor);
    let reader = spawn_cpu("reader", move || {
        let idx = srcu_read_lock(ssp);
        cpu_relax();
        srcu_read_unlock(ssp, idx);
    });
    let updater = spawn_cpu("updater", move || {
        synchronize_srcu(ssp);
        synchronize_srcu(ssp);
    });
    reader.join();
    updater.join();
    cleanup_srcu_struct(ssp);
}

#[test]
fn dropping_the_straggler_scan_is_caught_and_the_real_scan_passes() {
    let cases: [(&str, fn(), bool); 6] = [
        ("classic", || straggler(SrcuFlavor::Classic), false),
        (
            "classic without the first wait_idx",
            || straggler(SrcuFlavor::ClassicWithoutStragglerWait),
            true,
        ),
        ("classic v3.5+", || straggler(SrcuFlavor::ClassicBatch), false),
        (
            "classic v3.5+ without the scan before the flip",
            || straggler(SrcuFlavor::ClassicBatchWithoutStragglerScan),
            true,
        ),
        ("tree", || straggler(SrcuFlavor::Tree), false),
        (
            "tree without SCAN1's check",
            || straggler(SrcuFlavor::TreeWithoutScan1Check),
            true,
        ),
    ];
    for (name, body, broken) in cases {
        for seed in 1..=5 {
            let r = explore("straggler", ORACLE, body, seed);
            if broken {
                let f = r
                    .failure
                    .unwrap_or_else(|| panic!("{name}, seed {seed}: not caught"));
                assert_eq!(f.kind, FailureKind::GracePeriodViolation, "{name}: {}", f.message);
            } else {
                assert!(
                    r.failure.is_none(),
                    "{name}, seed {seed}: {}",
                    r.failure.unwrap().message
                );
            }
        }
    }
}

/// Classic SRCU's second `seq` sum is needed once readers migrate. Without it the scan accepts a
/// false zero: the mover loads the index before the flip, counts itself in on a CPU the `c` sum
/// has already read, and counts itself out on one the sum reads later (-1), which cancels CPU0,
/// still inside. Tree SRCU reads the unlock counts first, which a migrating reader cannot fool.
/// The uniform walk with four stalls finds the mutant's interleaving within the budget on the
/// seeds below (the default portfolio did not within 50k executions).
#[test]
fn a_migrating_reader_fakes_a_zero_without_classic_srcus_seq_recheck() {
    let cases: [(&str, fn(), bool); 4] = [
        ("classic", || migrating_reader(SrcuFlavor::Classic), false),
        (
            "classic v3.5+",
            || migrating_reader(SrcuFlavor::ClassicBatch),
            false,
        ),
        (
            "classic without the seq re-check",
            || migrating_reader(SrcuFlavor::ClassicWithoutSeqCheck),
            true,
        ),
        ("tree", || migrating_reader(SrcuFlavor::Tree), false),
    ];
    for (name, body, broken) in cases {
        for seed in 1..=3 {
            let r = Explorer::from_fn_with("migrating", ORACLE.with_srcu_migration(true), body)
                .scheduler(SchedulerSpec::Stall { depth: 5, seed })
                .budget(Budget::Executions(20_000))
                .run();
            if broken {
                let f = r
                    .failure
                    .unwrap_or_else(|| panic!("{name}, seed {seed}: not caught"));
                assert_eq!(f.kind, FailureKind::GracePeriodViolation, "{name}: {}", f.message);
                assert!(f.message.contains("CPU0 setup is still inside"), "{}", f.message);
            } else {
                assert!(
                    r.failure.is_none(),
                    "{name}, seed {seed}: {}",
                    r.failure.unwrap().message
                );
            }
        }
    }
}
