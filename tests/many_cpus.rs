//! Executions with many CPUs: 32 spawned CPUs (and CPU0) run, are explored under both memory
//! models, and the race detector, happens-before and RCU's grace periods work for CPUs past the
//! first eight (whose clock entries live outside the clock's inline part). Each passing model has
//! a mutant that fails. One CPU more is a clear failure, not a panic.

use kgrace::kernel::*;
use kgrace::sched::SchedulerSpec;
use kgrace::{Budget, Explorer, Failure, FailureKind, MemoryModel};

/// Spawned CPUs per execution: the most an execution may have besides CPU0.
const CPUS: usize = 32;

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

kgrace::kstruct! {
    struct Shared("shared") {
        count: Word<i64>,
        x: Word<u64>,
        flag: Word<u64>,
    }
}

fn explore(name: &'static str, body: fn(), memory: MemoryModel, seed: u64) -> (Option<Failure>, u64) {
    let r = Explorer::from_fn(name, body)
        .memory(memory)
        .scheduler(SchedulerSpec::Random { seed })
        .budget(Budget::Executions(300))
        .run();
    (r.failure, r.executions)
}

/// CPU0 spawns `n` CPUs, CPU `i` (from 1) running `f(s, i)`, joins them all, then runs `after`.
fn spawn_n(n: usize, f: fn(Shared, usize), after: fn(Shared)) {
    let s: Shared = kzalloc();
    let cpus: Vec<CpuHandle> = (1..=n).map(|i| spawn_cpu("cpu", move || f(s, i))).collect();
    for c in cpus {
        c.join();
    }
    after(s);
    kfree(s);
}

fn count_is_all(s: Shared) {
    bug_on(atomic_read(s.count()) != CPUS as i64, "an increment was lost");
}

fn atomic_increments() {
    spawn_n(CPUS, |s, _| atomic_inc(s.count()), count_is_all)
}

/// The mutant without atomicity: marked, so no data race, but increments can be lost.
fn once_increments() {
    spawn_n(
        CPUS,
        |s, _| {
            let v = read_once(s.count());
            write_once(s.count(), v + 1);
        },
        count_is_all,
    )
}

/// The mutant with plain accesses: KCSAN's data race.
fn plain_increments() {
    spawn_n(
        CPUS,
        |s, _| {
            let v = s.count().load();
            s.count().store(v + 1);
        },
        |_| {},
    )
}

#[test]
fn thirty_two_cpus_incrementing_an_atomic_pass_under_both_models() {
    for memory in MemoryModel::ALL {
        let (f, executions) = explore("atomic", atomic_increments, memory, 1);
        assert!(f.is_none(), "{memory}: {f:?}");
        assert_eq!(executions, 300, "{memory}");
    }
}

#[test]
fn thirty_two_cpus_without_atomicity_lose_an_increment_under_both_models() {
    for memory in MemoryModel::ALL {
        let f = explore("once", once_increments, memory, 1)
            .0
            .expect("no lost update found");
        assert_eq!(f.kind, FailureKind::Bug, "{memory}: {}", f.message);
        assert!(f.message.contains("an increment was lost"), "{}", f.message);
    }
}

#[test]
fn thirty_two_cpus_with_plain_increments_race_under_both_models() {
    for memory in MemoryModel::ALL {
        let f = explore("plain", plain_increments, memory, 1)
            .0
            .expect("no race found");
        assert_eq!(f.kind, FailureKind::DataRace, "{memory}: {}", f.message);
        assert!(f.message.contains("shared#1.count"), "{}", f.message);
    }
}

/// Message passing from CPU `W` to CPU `R` among 32 CPUs (the others do nothing): a plain store
/// of `x`, then the flag; the reader waits for the flag, then reads `x` plainly. With release and
/// acquire the read is ordered after the store, through the clock entry of `W`.
fn message_passing<const W: usize, const R: usize, const ORDERED: bool>() {
    spawn_n(
        CPUS,
        |s, i| {
            if i == W {
                s.x().store(1);
                if ORDERED {
                    smp_store_release(s.flag(), 1);
                } else {
                    write_once(s.flag(), 1);
                }
            } else if i == R {
                // Wait for the flag, so that every execution reads `x` after the store.
                while if ORDERED {
                    smp_load_acquire(s.flag())
                } else {
                    read_once(s.flag())
                } == 0
                {
                    cpu_relax();
                }
                let _ = s.x().load();
            }
        },
        |_| {},
    )
}

#[test]
fn release_and_acquire_order_cpus_past_the_eighth() {
    // Writer and reader both past the clock's inline entries, and each on either side of them.
    // (name, ordered, the mutant without release/acquire)
    type Case = (&'static str, fn(), fn());
    let cases: [Case; 3] = [
        (
            "31->32",
            message_passing::<31, 32, true>,
            message_passing::<31, 32, false>,
        ),
        (
            "30->2",
            message_passing::<30, 2, true>,
            message_passing::<30, 2, false>,
        ),
        (
            "3->29",
            message_passing::<3, 29, true>,
            message_passing::<3, 29, false>,
        ),
    ];
    for memory in MemoryModel::ALL {
        for (name, ordered, unordered) in cases {
            let (f, _) = explore(name, ordered, memory, 2);
            assert!(f.is_none(), "{name} {memory}: {f:?}");
            // The mutant: marked but unordered accesses to the flag leave the plain ones racing.
            let f = explore(name, unordered, memory, 2).0;
            let f = f.unwrap_or_else(|| panic!("{name} {memory}: no race without release/acquire"));
            assert_eq!(f.kind, FailureKind::DataRace, "{name} {memory}: {}", f.message);
            assert!(f.message.contains("shared#1.x"), "{}", f.message);
        }
    }
}

/// 31 RCU readers (CPUs 1 to 31) and an updater (CPU 32) that unpublishes the object, waits for a
/// grace period (or not: `SYNC` false is the mutant) and frees it.
fn rcu_readers_and_updater<const SYNC: bool>() {
    let gp: Gp = kzalloc();
    let old: Obj = kzalloc();
    rcu_assign_pointer(gp.ptr(), old);
    let cpus: Vec<CpuHandle> = (1..=CPUS)
        .map(|i| {
            spawn_cpu("cpu", move || {
                if i < CPUS {
                    rcu_read_lock();
                    let p = rcu_dereference(gp.ptr());
                    if !p.is_null() {
                        let _ = p.val().load();
                    }
                    rcu_read_unlock();
                } else {
                    let old = rcu_dereference_protected(gp.ptr());
                    rcu_assign_pointer(gp.ptr(), Obj::NULL);
                    if SYNC {
                        synchronize_rcu();
                    }
                    kfree(old);
                }
            })
        })
        .collect();
    for c in cpus {
        c.join();
    }
    kfree(gp);
}

#[test]
fn a_grace_period_waits_for_thirty_one_readers() {
    for memory in MemoryModel::ALL {
        let (f, executions) = explore("rcu", rcu_readers_and_updater::<true>, memory, 3);
        assert!(f.is_none(), "{memory}: {f:?}");
        assert_eq!(executions, 300, "{memory}");
        // The mutant: without the grace period a reader uses the object after the free.
        let f = explore("rcu-no-sync", rcu_readers_and_updater::<false>, memory, 3).0;
        let f = f.unwrap_or_else(|| panic!("{memory}: no use-after-free without synchronize_rcu"));
        assert!(
            matches!(f.kind, FailureKind::UseAfterFree | FailureKind::DataRace),
            "{memory}: {}",
            f.message
        );
        assert!(f.message.contains("obj#"), "{}", f.message);
    }
}

fn too_many(n: usize) {
    spawn_n(n, |s, _| atomic_inc(s.count()), |_| {})
}

#[test]
fn spawning_past_the_limit_fails_the_execution_with_a_clear_report() {
    for (n, body) in [(33, (|| too_many(33)) as fn()), (40, || too_many(40))] {
        for memory in MemoryModel::ALL {
            let (f, executions) = explore("too-many", body, memory, 1);
            let f = f.unwrap_or_else(|| panic!("{n} CPUs: no failure"));
            assert_eq!(executions, 1, "the first execution fails");
            assert_eq!(f.kind, FailureKind::Bug, "{}", f.message);
            assert!(
                f.message.contains(
                    "at most 33 CPUs per execution (CPU0 and 32 spawned); this harness spawned more"
                ),
                "{}",
                f.message
            );
            assert!(f.message.contains("CPU33"), "{}", f.message);
        }
    }
}
