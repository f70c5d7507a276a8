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
        .scheduler(SchedulerSpec::Portfolio { depth: 3, seed })
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
        assert!(variant.starts_with("naive"), "{}", f.message);
        assert!(
            f.message.contains("synchronize_srcu(srcu_struct#"),
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
