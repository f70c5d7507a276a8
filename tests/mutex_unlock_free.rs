//! The verdicts of `mutex_unlock_free` (thread 002, HMM v3: `docs/mutex_unlock_free.md`), found by
//! PCT exploring.

use kgrace::harness::{Config, MemoryModel};
use kgrace::kernel::*;
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

// The 2015 mutex itself, on small models of its own.

kgrace::kstruct! {
    struct Locked("locked") {
        lock: Mutex,
        held: Word<u64>,
        contending: Word<u64>,
    }
}

/// CPU1 takes the mutex twice, CPU2 once: CPU2's slow path can find the mutex released and
/// retaken by CPU1's fast path (`count == 0`) when it looks once more under `wait_lock`.
fn relock() {
    let l: Locked = kzalloc();
    mutex_init(l.lock());
    let a = spawn_cpu("twice", move || {
        for _ in 0..2 {
            mutex_lock(l.lock());
            mutex_unlock(l.lock());
        }
    });
    let b = spawn_cpu("once", move || {
        mutex_lock(l.lock());
        mutex_unlock(l.lock());
    });
    a.join();
    b.join();
    kfree(l);
    // A probe, not a verdict: failing here hands the whole execution back as a trace.
    bug_on(true, "probe");
}

/// v4.1's `mutex_try_to_acquire` and the slow path's last try before queueing test
/// `!mutex_is_locked()` (`count == 1`) before their `cmpxchg`/`xchg`: no fully ordered RMW is
/// issued on a mutex seen locked. In 2,000 random executions the slow path finds `count == 0`
/// under `wait_lock` (where the model's old `count >= 0` test issued a spurious `xchg`; that
/// mutant fails here), and every RMW that takes the mutex to 0 comes right after its CPU read
/// `count == 1`.
#[test]
fn the_lock_slow_path_tries_to_take_the_mutex_only_when_it_reads_it_unlocked() {
    let mut locked_under_wait_lock = 0;
    for seed in 1..=2000 {
        let r = Explorer::from_fn("relock", relock)
            .scheduler(SchedulerSpec::Random { seed })
            .budget(Budget::Executions(1))
            .run();
        let t = r.trace.expect("the probe fails every execution");
        let f = r.failure.unwrap();
        assert_eq!(
            f.message.lines().next().map(|l| l.contains("probe")),
            Some(true),
            "{}",
            f.message
        );
        let mut last_read: [Option<u64>; 8] = [None; 8];
        for e in t.events.iter().filter(|e| e.location.ends_with("lock.count")) {
            let cpu = e.cpu as usize;
            match e.op.as_str() {
                "atomic_read" => {
                    if e.func == "__mutex_lock_slowpath" && e.read == Some(0) {
                        locked_under_wait_lock += 1;
                    }
                    last_read[cpu] = e.read;
                }
                "atomic_xchg" | "atomic_cmpxchg" if e.wrote == Some(0) || e.op == "atomic_cmpxchg" => {
                    assert_eq!(
                        last_read[cpu],
                        Some(1),
                        "seed {seed}: {} on a mutex CPU{cpu} last read locked:\n{}",
                        e.op,
                        t.render_events(&t.events)
                    );
                    last_read[cpu] = None;
                }
                _ => last_read[cpu] = None,
            }
        }
    }
    assert!(
        locked_under_wait_lock > 0,
        "the slow path never found count == 0 under wait_lock"
    );
}

/// CPU1 takes the mutex and, running, holds it until CPU2 is inside `mutex_lock`; then, under
/// `wait_lock`, it looks for a waiter. CPU2 starts only once CPU1 is the recorded owner, so it
/// spins on CPU1 and never finds the mutex without an owner while CPU1 holds it.
fn owner_runs_while_contended() {
    let l: Locked = kzalloc();
    mutex_init(l.lock());
    let owner = spawn_cpu("owner", move || {
        mutex_lock(l.lock());
        smp_store_release(l.held(), 1);
        while smp_load_acquire(l.contending()) == 0 {
            cpu_relax();
        }
        spin_lock(l.lock().wait_lock());
        let waiter = !list_empty(l.lock().wait_list());
        spin_unlock(l.lock().wait_lock());
        bug_on(
            waiter,
            "the contender sleeps on the wait list while the owner holds the mutex",
        );
        mutex_unlock(l.lock());
    });
    let contender = spawn_cpu("contender", move || {
        while smp_load_acquire(l.held()) == 0 {
            cpu_relax();
        }
        smp_store_release(l.contending(), 1);
        mutex_lock(l.lock());
        mutex_unlock(l.lock());
    });
    owner.join();
    contender.join();
    kfree(l);
}

fn owner_model(config: Config, memory: MemoryModel) -> kgrace::Report {
    Explorer::from_fn_with("owner-runs", config, owner_runs_while_contended)
        .memory(memory)
        .scheduler(SchedulerSpec::Dfs { preemptions: Some(2) })
        .budget(Budget::Executions(200_000))
        .run()
}

/// `mutex_spin_on_owner` stops when `owner->on_cpu` is false. Under `CONFIG_PREEMPT` an owner
/// that runs may be preempted, so the contender stops spinning, queues itself and sleeps while
/// the owner still holds the mutex: found under both memory models.
#[test]
fn with_preempt_a_spinner_stops_on_a_preempted_owner_and_sleeps() {
    for memory in MemoryModel::ALL {
        let f = owner_model(Config::DEFAULT, memory)
            .failure
            .unwrap_or_else(|| panic!("{memory}: the contender never slept"));
        assert_eq!(f.kind, FailureKind::Bug, "{memory}: {}", f.message);
        assert!(f.message.contains("wait list"), "{}", f.message);
    }
}

/// The twin: without `CONFIG_PREEMPT` an owner that does not sleep stays on its CPU, and the
/// contender spins on it until it lets go (the model does not make the spinner's own
/// `need_resched()` true while it has an owner): no execution within 2 preemptions queues it.
#[test]
fn without_preempt_a_spinner_spins_while_its_owner_runs() {
    for memory in MemoryModel::ALL {
        let r = owner_model(Config::DEFAULT.with_preempt(false), memory);
        assert!(r.failure.is_none(), "{memory}: {}", r.failure.unwrap().message);
        assert!(r.exhausted, "{memory}: {} executions", r.executions);
    }
}

/// Before v3.15 the unlock released `count` inside `wait_lock`: `spin_lock(&lock->wait_lock)`
/// comes before the release, so it is never the access to the freed device; the wait-list check
/// or the `spin_unlock` after the release still is. The twin, v3.15+'s order (`buggy-kasan`),
/// also frees the device under that `spin_lock`.
#[test]
fn the_pre_3_15_unlock_still_touches_the_freed_mutex_after_its_spin_lock() {
    let mut in_spin_lock = 0;
    for seed in 1..=20 {
        let f = explore("unlock-pre-3.15-kasan", seed, 10_000)
            .failure
            .unwrap_or_else(|| panic!("seed {seed}: not found"));
        assert_eq!(f.kind, FailureKind::UseAfterFree, "seed {seed}: {}", f.message);
        assert!(f.inside("__mutex_unlock_slowpath"), "seed {seed}: {}", f.message);
        assert!(!f.inside("spin_lock"), "seed {seed}: {}", f.message);
        if explore("buggy-kasan", seed, 10_000)
            .failure
            .is_some_and(|f| f.inside("spin_lock"))
        {
            in_spin_lock += 1;
        }
    }
    assert!(in_spin_lock > 0, "v3.15+'s window never showed at spin_lock");
}

/// Mark's other way out: a reference on the device for each mirror, dropped after
/// `hmm_mirror_destroy`'s `mutex_unlock`, so the device outlives every unlock of its mutex.
#[test]
fn device_kref_passes_10000_executions_for_each_seed() {
    assert_clean("device-kref");
}

/// Its mutant: the same reference dropped before the `mutex_unlock` is the v3 bug again.
#[test]
fn device_kref_dropped_before_the_unlock_frees_the_device_under_it_for_every_seed() {
    for seed in 1..=20 {
        let f = explore("device-kref-put-early", seed, 10_000)
            .failure
            .unwrap_or_else(|| panic!("seed {seed}: not found"));
        assert!(
            matches!(f.kind, FailureKind::UseAfterFree | FailureKind::DataRace),
            "seed {seed}: {}",
            f.message
        );
        assert!(f.message.contains("hmm_device#"), "seed {seed}: {}", f.message);
        assert!(f.message.contains("mutex"), "seed {seed}: {}", f.message);
    }
}

/// `device-kref` and its mutant, every interleaving with up to 2 preemptions (and every choice of
/// whether a running owner is found preempted): the reference held across the unlock passes all
/// of them; dropped before it, the device is freed under the unlocker.
#[test]
fn device_kref_passes_every_interleaving_within_2_preemptions_and_its_mutant_does_not() {
    let dfs = |variant| {
        Explorer::new("mutex_unlock_free", variant)
            .unwrap()
            .scheduler(SchedulerSpec::Dfs { preemptions: Some(2) })
            .budget(Budget::Executions(1_000_000))
            .run()
    };
    let r = dfs("device-kref");
    assert!(r.failure.is_none(), "{}", r.failure.unwrap().message);
    assert!(r.exhausted, "{} executions", r.executions);
    let f = dfs("device-kref-put-early")
        .failure
        .expect("the device freed under the unlocker");
    assert!(f.message.contains("hmm_device#"), "{}", f.message);
}
