//! Every variant of every harness gets the verdict `kgrace list` states, from the default
//! scheduler exploring: a failing variant is found within 1,000 executions for at least 19 of
//! seeds 1..=20, with the predicted kind; a passing variant stays clean over 10,000 executions
//! for each of those seeds (the same run that finds the failing ones).

use kgrace::harness::{self, Expected};
use kgrace::sched::SchedulerSpec;
use kgrace::{Budget, Explorer, Failure, FailureKind, MemoryModel};

const SEEDS: std::ops::RangeInclusive<u64> = 1..=20;

/// Passing variants: 20 seeds under `sc`; under `lkmm`, whose executions also choose what each load
/// reads, 5 seeds of 10,000 executions keep the suite's time in bounds.
fn passing_seeds(memory: MemoryModel) -> std::ops::RangeInclusive<u64> {
    match memory {
        MemoryModel::Sc => SEEDS,
        MemoryModel::Lkmm => 1..=5,
    }
}

fn explore(h: &str, variant: &str, memory: MemoryModel, seed: u64, executions: u64) -> kgrace::Report {
    Explorer::new(h, variant)
        .unwrap()
        .memory(memory)
        .scheduler(SchedulerSpec::Guided { depth: 3, seed })
        .budget(Budget::Executions(executions))
        .run()
}

/// Checks every variant of `h`; `check` adds harness-specific assertions on each failure.
fn verdicts(h: &str, memory: MemoryModel, check: impl Fn(&str, &Failure)) {
    let harness = harness::find(h).unwrap();
    for v in harness.variants {
        match v.expected {
            expected @ (Expected::Fails(_) | Expected::FailsWith(_)) => {
                let mut found = 0;
                for seed in SEEDS {
                    if let Some(f) = explore(h, v.name, memory, seed, 1_000).failure {
                        assert!(
                            expected.matches(Some(f.kind)),
                            "{h} {} under {memory}, seed {seed}: expected {expected}, got:\n{}",
                            v.name,
                            f.message
                        );
                        check(v.name, &f);
                        found += 1;
                    }
                }
                assert!(
                    found >= 19,
                    "{h} {} under {memory}: found for only {found} of 20 seeds",
                    v.name
                );
            }
            Expected::Passes => {
                for seed in passing_seeds(memory) {
                    let r = explore(h, v.name, memory, seed, 10_000);
                    assert_eq!(r.executions, 10_000);
                    if let Some(f) = r.failure {
                        panic!("{h} {}, seed {seed}:\n{}", v.name, f.message);
                    }
                }
            }
        }
    }
}

fn concurrent_srcu_check(variant: &str, f: &Failure) {
    if f.message.contains("grace-period violation") {
        // Only the SRCUs no kernel had break the guarantee itself.
        assert!(
            variant.starts_with("naive") || variant == "small-counters",
            "{variant}: {}",
            f.message
        );
        assert!(
            f.message.contains("synchronize_srcu_expedited(srcu_struct#"),
            "{}",
            f.message
        );
    } else {
        // The filter the writer frees: read after the free, or freed while a reader's read of it
        // is unordered with the free.
        assert!(f.message.contains("kvm_pmu_event_filter#"), "{}", f.message);
    }
}

fn state_in_sysfs_check(variant: &str, f: &Failure) {
    match variant {
        "buggy" => assert!(
            f.message.contains("cxl_memdev#") && f.message.contains("kobj_state"),
            "{}",
            f.message
        ),
        "rwsem-flush-kcsan" => assert!(f.message.contains(".cxlm"), "{}", f.message),
        "rwsem-flush" => assert!(f.inside("cxl_mem_mbox_send_cmd"), "{}", f.message),
        _ => assert!(f.message.contains("cxl_mem"), "{}", f.message),
    }
}

fn mutex_unlock_free_check(_: &str, f: &Failure) {
    // Either the unlocker touches the freed mutex inside mutex_unlock, or the free races with the
    // unlocker's last access to it.
    assert!(f.message.contains("hmm_device#"), "{}", f.message);
    assert!(
        f.inside("mutex_unlock") || f.message.contains("hmm_notifier_release"),
        "{}",
        f.message
    );
}

#[test]
fn concurrent_srcu_naive_srcu_breaks_and_the_kernels_srcus_do_not() {
    verdicts("concurrent_srcu", MemoryModel::Sc, concurrent_srcu_check);
}

#[test]
fn concurrent_srcu_verdicts_hold_under_lkmm() {
    verdicts("concurrent_srcu", MemoryModel::Lkmm, concurrent_srcu_check);
}

#[test]
fn state_in_sysfs_v2_races_on_the_flag_and_the_rwsem_fix_holds() {
    verdicts("state_in_sysfs", MemoryModel::Sc, state_in_sysfs_check);
}

#[test]
fn state_in_sysfs_verdicts_hold_under_lkmm() {
    verdicts("state_in_sysfs", MemoryModel::Lkmm, state_in_sysfs_check);
}

#[test]
fn mutex_unlock_free_fails_inside_mutex_unlock_unless_fixed() {
    verdicts("mutex_unlock_free", MemoryModel::Sc, mutex_unlock_free_check);
}

#[test]
fn mutex_unlock_free_verdicts_hold_under_lkmm() {
    verdicts("mutex_unlock_free", MemoryModel::Lkmm, mutex_unlock_free_check);
}

fn client_data_kref_check(variant: &str, f: &Failure) {
    // A reference taken on a dying object is reported by KASAN (the object is freed) or by
    // refcount_t (its count is 0, the free still to come), whichever the interleaving reaches;
    // or, first of all, by KCSAN: the free racing with the reader's access.
    const ADDITION_ON_0: &str = "refcount_t: addition on 0; use-after-free.";
    let (object, inside) = match variant {
        "buggy" => ("ulp_device#", "kref_get"),
        "get-unless-zero" | "rcu-unless-zero-kfree" => ("ulp_device#", "kref_get_unless_zero"),
        "core-kref-unlocked" => ("ulp_device#", "ib_get_client_kref"),
        "rcu-no-sync" => ("rds_ib_device#", "rds_ib_get_client_data"),
        // The object's memory is still valid (RCU, the mutex): only refcount_t can tell.
        "rcu-get" => (ADDITION_ON_0, "ulp_event_handler"),
        "mutex-get" => (ADDITION_ON_0, "nvme_rdma_find_get_device"),
        "get-or-create" => {
            // kmemleak at the end: the overwritten object, created by a connect.
            assert!(
                f.message.contains("kmemleak: 1 unreferenced object"),
                "{}",
                f.message
            );
            assert!(f.message.contains("nvme_rdma_device#"), "{}", f.message);
            return;
        }
        other => panic!("{other} fails"),
    };
    if f.kind == FailureKind::DataRace {
        assert!(
            f.message.contains("kfree of") && f.message.contains(object.trim_end_matches('#')),
            "{variant}: {}",
            f.message
        );
        return;
    }
    assert!(
        f.message.contains(object) || f.message.contains(ADDITION_ON_0),
        "{variant}: {}",
        f.message
    );
    assert!(f.inside(inside), "{variant}: {}", f.message);
}

#[test]
fn client_data_kref_a_reference_needs_rcu_or_the_lock_that_covers_the_free() {
    verdicts("client_data_kref", MemoryModel::Sc, client_data_kref_check);
}

#[test]
fn client_data_kref_verdicts_hold_under_lkmm() {
    verdicts("client_data_kref", MemoryModel::Lkmm, client_data_kref_check);
}

fn notifier_partial_init_check(variant: &str, f: &Failure) {
    match variant {
        // The invalidation's plain load of a field io_mm_finalize stores plainly.
        "buggy" | "plain-chain" => {
            assert!(
                f.message.contains("data-race in io_mm_invalidate"),
                "{}",
                f.message
            );
            assert!(
                [".pasid", ".ctx", ".ops"]
                    .iter()
                    .any(|field| f.message.contains(field)),
                "{}",
                f.message
            );
            assert!(f.message.contains(" bind, unordered"), "{}", f.message);
        }
        // The lkmm-only symptoms: the NULL ops (or ctx) dereferenced, or O4.1's warning.
        "buggy-kcsan-off" => {
            assert!(
                f.inside("io_mm_invalidate") || f.inside("arm_smmu_mm_invalidate"),
                "{}",
                f.message
            );
            assert!(
                f.message.contains("NULL pointer dereference")
                    || f.message.contains("O4.1: invalidation for dev0 with pasid 0x0"),
                "{}",
                f.message
            );
        }
        other => panic!("{other} is expected to pass:\n{}", f.message),
    }
}

#[test]
fn notifier_partial_init_posted_code_races_and_both_fixes_hold() {
    verdicts(
        "notifier_partial_init",
        MemoryModel::Sc,
        notifier_partial_init_check,
    );
}

#[test]
fn notifier_partial_init_verdicts_hold_under_lkmm() {
    verdicts(
        "notifier_partial_init",
        MemoryModel::Lkmm,
        notifier_partial_init_check,
    );
}

/// The posted code's NULL `ops` call (or O4.1's wrong PASID) needs weak memory: with KCSAN out of
/// the way, an exhaustive search of every interleaving with up to two preemptions finds nothing
/// under `sc`, and finds it under `lkmm`, where the failing execution shows the reclaim CPU's
/// stale read of a field `io_mm_finalize` had already stored.
#[test]
fn notifier_partial_init_null_ops_needs_weak_memory() {
    let dfs = |variant| {
        Explorer::new("notifier_partial_init", variant)
            .unwrap()
            .scheduler(SchedulerSpec::Dfs { preemptions: Some(2) })
            .budget(Budget::Executions(1_000_000))
            .run()
    };
    let sc = dfs("buggy-kcsan-off-sc");
    assert_eq!(sc.memory, MemoryModel::Sc);
    assert!(sc.failure.is_none(), "{}", sc.failure.unwrap().message);
    assert!(
        sc.exhausted,
        "every interleaving within 2 preemptions, {} executions",
        sc.executions
    );

    let weak = dfs("buggy-kcsan-off");
    assert_eq!(weak.memory, MemoryModel::Lkmm);
    let f = weak.failure.expect("the stale read is reachable under lkmm");
    assert!(
        matches!(f.kind, FailureKind::NullDeref | FailureKind::Bug),
        "{}",
        f.message
    );
    let trace = weak.trace.unwrap();
    let stale = trace
        .events
        .iter()
        .filter(|e| e.stale.is_some() && e.cpu_name.contains("reclaim") && e.location.starts_with("io_mm#"))
        .count();
    assert!(
        stale > 0,
        "{}",
        trace.render(&trace.events, trace.failure.as_ref())
    );
}

/// Each passing variant of `notifier_partial_init` with the mechanism that makes it pass removed
/// fails: the verdict is evidence. Pairs: (passing variant, mutant, what the mutant removes).
#[test]
fn notifier_partial_init_mutants_fail() {
    const PAIRS: &[(&str, &str, &str)] = &[
        ("deref-chain", "buggy", "the re-load (3)"),
        ("deref-chain", "plain-chain", "the marking of the re-load (3)"),
        (
            "init-before-publish",
            "buggy",
            "the initialization before publication",
        ),
        ("plain-chain-kcsan-off", "buggy-kcsan-off", "the re-load (3)"),
        ("buggy-kcsan-off-sc", "buggy-kcsan-off", "sequential consistency"),
    ];
    let h = harness::find("notifier_partial_init").unwrap();
    for &(passing, mutant, removed) in PAIRS {
        assert_eq!(h.variant(passing).unwrap().expected, Expected::Passes);
        for memory in MemoryModel::ALL {
            if h.variant(passing)
                .unwrap()
                .config
                .memory
                .is_some_and(|m| m != memory)
            {
                continue;
            }
            let clean = explore("notifier_partial_init", passing, memory, 1, 5_000);
            assert!(clean.failure.is_none(), "{passing} under {memory}");
            let found = (1..=3).any(|seed| {
                explore("notifier_partial_init", mutant, memory, seed, 1_000)
                    .failure
                    .is_some()
            });
            assert!(
                found,
                "{passing} without {removed} ({mutant}) still passes under {memory}"
            );
        }
    }
}
