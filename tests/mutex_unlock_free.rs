//! The verdicts of `mutex_unlock_free` (thread 002, HMM v3: `docs/mutex_unlock_free.md`), found by
//! PCT exploring.

use kgrace::sched::SchedulerSpec;
use kgrace::{Budget, Explorer, FailureKind};

fn explore(variant: &str, seed: u64, executions: u64) -> kgrace::Report {
    Explorer::new("mutex_unlock_free", variant)
        .unwrap()
        .scheduler(SchedulerSpec::Pct { depth: 3, seed })
        .budget(Budget::Executions(executions))
        .run()
}

#[test]
fn buggy_is_a_use_after_free_inside_mutex_unlock_for_19_of_20_seeds() {
    let mut found = 0;
    for seed in 1..=20 {
        let r = explore("buggy-kasan", seed, 1_000);
        if let Some(f) = &r.failure {
            assert_eq!(f.kind, FailureKind::UseAfterFree, "seed {seed}: {}", f.message);
            assert!(
                f.inside("mutex_unlock"),
                "seed {seed}: not inside mutex_unlock:\n{}",
                f.message
            );
            assert!(
                f.message.contains("hmm_device#"),
                "seed {seed}: names the device: {}",
                f.message
            );
            found += 1;
        }
    }
    assert!(
        found >= 19,
        "PCT found the use-after-free for only {found} of 20 seeds"
    );
}

fn assert_clean(variant: &str) {
    // Same seeds, same strategy as the buggy test above: the buggy variant fails under this run.
    for seed in 1..=20 {
        let r = explore(variant, seed, 10_000);
        assert_eq!(r.executions, 10_000);
        assert!(
            r.failure.is_none(),
            "{variant}, seed {seed}: {}",
            r.failure.unwrap().message
        );
    }
}

#[test]
fn fixed_spinlock_passes_10000_executions_for_each_seed() {
    assert_clean("fixed");
}

#[test]
fn debug_mutexes_pass_10000_executions_for_each_seed() {
    assert_clean("debug-mutexes");
}

#[test]
fn random_walk_finds_it_too() {
    let r = Explorer::new("mutex_unlock_free", "buggy-kasan")
        .unwrap()
        .scheduler(SchedulerSpec::Random { seed: 1 })
        .budget(Budget::Executions(10_000))
        .run();
    assert_eq!(r.failure.map(|f| f.kind), Some(FailureKind::UseAfterFree));
}

/// Jérôme's `synchronize_rcu()` under both configurations, every interleaving with up to 3
/// preemptions: without `CONFIG_PREEMPT` the grace period waits for the unlocker, which cannot
/// pass a quiescent state inside `mutex_unlock`, and no execution fails; with it (the mutant) the
/// unlocker is not waited for and the device is freed under it.
#[test]
fn synchronize_rcu_closes_the_window_only_without_preempt() {
    let dfs = |variant| {
        Explorer::new("mutex_unlock_free", variant)
            .unwrap()
            .scheduler(SchedulerSpec::Dfs { preemptions: Some(3) })
            .budget(Budget::Executions(1_000_000))
            .run()
    };
    let nopreempt = dfs("synchronize-rcu-nopreempt");
    assert!(
        nopreempt.failure.is_none(),
        "{}",
        nopreempt.failure.unwrap().message
    );
    assert!(nopreempt.exhausted, "{} executions", nopreempt.executions);
    let f = dfs("synchronize-rcu")
        .failure
        .expect("with preemption the grace period does not wait for the unlocker");
    assert!(
        matches!(f.kind, FailureKind::UseAfterFree | FailureKind::DataRace),
        "{}",
        f.message
    );
    assert!(f.message.contains("hmm_device#"), "{}", f.message);
}
