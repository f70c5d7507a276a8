//! `--jobs`: exploring on several worker threads. One job is the sequential exploration; with
//! more, each worker is a deterministic stream of its own, the budget is shared out, and the
//! failure reported replays and is found again by its worker's seed alone.

use std::process::Command;

use kgrace::explore::worker_seed;
use kgrace::sched::SchedulerSpec;
use kgrace::{Budget, Explorer};

fn explorer(variant: &str, seed: u64, executions: u64) -> Explorer {
    Explorer::new("state_in_sysfs", variant)
        .unwrap()
        .scheduler(SchedulerSpec::Guided { depth: 3, seed })
        .budget(Budget::Executions(executions))
}

#[test]
fn one_job_is_the_sequential_exploration() {
    for seed in 1..=5 {
        let a = explorer("sync-before-store", seed, 2_000).run();
        let b = explorer("sync-before-store", seed, 2_000).jobs(1).run();
        assert_eq!(a.executions, b.executions);
        assert_eq!(
            a.trace.map(|t| t.decisions),
            b.trace.map(|t| t.decisions),
            "seed {seed}"
        );
    }
}

#[test]
fn a_parallel_failure_replays_and_its_worker_seed_finds_it_alone() {
    for seed in 1..=5 {
        let r = explorer("sync-before-store", seed, 4_000).jobs(2).run();
        let t = r.trace.expect("found within 4,000 executions on two workers");
        let replayed = t.replay().unwrap();
        assert_eq!(replayed.failure.map(|f| f.kind), r.failure.map(|f| f.kind));
        assert!(replayed.divergence.is_none());
        // Worker j's stream is its seed's sequential exploration.
        let alone = Explorer::new("state_in_sysfs", "sync-before-store")
            .unwrap()
            .scheduler(t.scheduler)
            .budget(Budget::Executions(2_000))
            .run();
        assert_eq!(alone.executions, t.execution, "seed {seed}: {}", t.scheduler);
        assert_eq!(alone.trace.unwrap().decisions, t.decisions);
    }
}

#[test]
fn a_clean_parallel_run_uses_the_whole_budget_and_no_more() {
    for jobs in [2, 3] {
        let r = explorer("fixed", 1, 1_001).jobs(jobs).run();
        assert!(r.failure.is_none());
        assert_eq!(r.executions, 1_001, "{jobs} jobs");
    }
}

#[test]
fn workers_get_distinct_seeds_and_worker_0_keeps_the_runs() {
    assert_eq!(worker_seed(42, 0), 42);
    let seeds: std::collections::HashSet<u64> = (0..64).map(|j| worker_seed(42, j)).collect();
    assert_eq!(seeds.len(), 64);
}

#[test]
fn dfs_is_not_split() {
    let run = |jobs| {
        Explorer::new("concurrent_srcu", "buggy")
            .unwrap()
            .scheduler(SchedulerSpec::Dfs { preemptions: Some(1) })
            .budget(Budget::Executions(500))
            .jobs(jobs)
            .run()
    };
    let (a, b) = (run(1), run(4));
    assert_eq!(a.executions, b.executions);
    assert_eq!(a.trace.map(|t| t.decisions), b.trace.map(|t| t.decisions));
}

#[test]
fn run_all_gives_the_same_verdicts_on_any_number_of_jobs() {
    let run = |jobs: &str| {
        let o = Command::new(env!("CARGO_BIN_EXE_kgrace"))
            .args(["run", "--all", "--iterations", "150", "--json", "--jobs", jobs])
            .output()
            .unwrap();
        let mut v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        // Rates differ from run to run; everything else must not.
        for variant in v["variants"].as_array_mut().unwrap() {
            for (_, cell) in variant["memory"].as_object_mut().unwrap() {
                cell.as_object_mut().unwrap().remove("executions_per_sec");
            }
        }
        v
    };
    assert_eq!(run("1"), run("2"));
}
