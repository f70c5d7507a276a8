//! `kgrace bench` and the strategies it compares: each cell is what the explorations it summarizes
//! found, the table does not depend on the number of workers, the strategies are deterministic
//! for a seed, and the command's bad input exits 2.

use std::process::{Command, Output};

use kgrace::bench::{self, BenchSpec};
use kgrace::harness;
use kgrace::sched::{Guided, SchedulerSpec};
use kgrace::{Budget, Explorer, MemoryModel};

fn kgrace(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kgrace"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn a_cell_is_the_explorations_it_summarizes() {
    let h = harness::find("mutex_unlock_free").unwrap();
    let v = h.variant("buggy").unwrap();
    let pct = SchedulerSpec::Pct { depth: 3, seed: 0 };
    let row = bench::measure(h, v, MemoryModel::Sc, pct, 5, 1_000);
    assert_eq!((row.seeds, row.strategy, row.executions.len()), (5, "pct", 5));
    for (i, found) in row.executions.iter().enumerate() {
        let r = Explorer::new("mutex_unlock_free", "buggy")
            .unwrap()
            .scheduler(SchedulerSpec::Pct {
                depth: 3,
                seed: i as u64 + 1,
            })
            .budget(Budget::Executions(1_000))
            .run();
        assert_eq!(*found, r.failure.map(|_| r.executions), "seed {}", i + 1);
    }
    assert_eq!(row.found, row.executions.iter().flatten().count() as u64);
    assert_eq!(row.median, bench::median(&row.executions));
}

/// The goal the default strategy is held to (issue 15): every failing variant of every harness,
/// under each memory model, found within 1,000 executions in at least 19 of seeds 1..=20, and
/// in a median of at most 50 executions over them (the README's bench table; the slowest cell
/// is at 49 there, and at 57 on 300 seeds).
#[test]
fn the_default_finds_every_failing_variant_within_1000_executions_for_19_of_20_seeds_and_50_at_the_median() {
    let spec = BenchSpec {
        // What `kgrace run` and `Explorer::new` use when no strategy is given.
        strategies: vec![SchedulerSpec::Guided { depth: 3, seed: 0 }],
        memories: MemoryModel::ALL.to_vec(),
        seeds: 20,
        budget: 1_000,
        harnesses: vec![],
        jobs: 2,
    };
    let rows = bench::bench(&spec, None).unwrap();
    let failing: usize = harness::all()
        .iter()
        .flat_map(|h| h.variants)
        .filter(|v| v.expected.fails())
        .count();
    assert!(
        rows.len() >= failing,
        "{} rows for {failing} failing variants",
        rows.len()
    );
    let missed: Vec<String> = rows
        .iter()
        .filter(|r| r.found < 19)
        .map(|r| format!("{} {} under {}: {}/20", r.harness, r.variant, r.memory, r.found))
        .collect();
    assert!(missed.is_empty(), "{missed:?}");
    let slow: Vec<String> = rows
        .iter()
        .filter(|r| r.median.is_none_or(|m| m > 50))
        .map(|r| {
            format!(
                "{} {} under {}: median {:?}",
                r.harness, r.variant, r.memory, r.median
            )
        })
        .collect();
    assert!(slow.is_empty(), "{slow:?}");
}

/// The default begins with `portfolio`'s executions, the same ones for the same seed, so a
/// failure `portfolio` finds within the first phase it finds in the same execution: for every
/// failing variant under each model and seeds 1..=20, the two agree on which execution of the
/// first phase finds it, if any. (With the portfolio arm seeded one number later, they
/// differ.)
#[test]
fn the_default_begins_with_portfolio_s_executions_and_finds_what_they_find_as_soon() {
    let first = Guided::SCHEDULE[0];
    assert!(
        first.portfolio_only(),
        "the first phase is not portfolio's alone: {first:?}"
    );
    let mut found = 0;
    for (h, v, m) in bench::failing_cells(harness::all(), &MemoryModel::ALL) {
        let spec = |s| bench::measure(h, v, m, s, 20, first.until).executions;
        let p = spec(SchedulerSpec::Portfolio { depth: 3, seed: 0 });
        let g = spec(SchedulerSpec::Guided { depth: 3, seed: 0 });
        assert_eq!(g, p, "{} {} under {m}: guided, then portfolio", h.name, v.name);
        found += p.iter().flatten().count();
    }
    // Most cells are found there by some seed: the comparison is not of two empty lists.
    assert!(found > 500, "{found}");
}

#[test]
fn the_median_counts_a_seed_that_found_nothing_as_the_worst() {
    assert_eq!(bench::median(&[Some(3), None, Some(1)]), Some(3));
    assert_eq!(bench::median(&[None, None, Some(1)]), None);
    assert_eq!(bench::median(&[Some(5), Some(2)]), Some(2));
    assert_eq!(bench::median(&[Some(5), None]), Some(5));
    assert_eq!(bench::median(&[]), None);
}

#[test]
fn a_budget_too_small_finds_nothing_and_says_so() {
    let h = harness::find("state_in_sysfs").unwrap();
    let v = h.variant("sync-before-store").unwrap();
    let row = bench::measure(h, v, MemoryModel::Sc, SchedulerSpec::Uniform { seed: 0 }, 3, 2);
    assert_eq!((row.found, row.median), (0, None));
}

#[test]
fn the_table_does_not_depend_on_the_number_of_workers() {
    let spec = |jobs| BenchSpec {
        strategies: vec![
            SchedulerSpec::Guided { depth: 3, seed: 0 },
            SchedulerSpec::Pos { seed: 0 },
        ],
        memories: vec![MemoryModel::Sc, MemoryModel::Lkmm],
        seeds: 3,
        budget: 300,
        harnesses: vec!["concurrent_srcu".into()],
        jobs,
    };
    let one = bench::bench(&spec(1), None).unwrap();
    let two = bench::bench(&spec(2), None).unwrap();
    let key = |rows: &[bench::Row]| {
        rows.iter()
            .map(|r| (r.variant, r.strategy, r.memory, r.executions.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(key(&one), key(&two));
    // Every failing variant of the harness, under both models (or the one it pins), under both
    // strategies.
    let cells: usize = harness::find("concurrent_srcu")
        .unwrap()
        .variants
        .iter()
        .filter(|v| v.expected.fails())
        .map(|v| if v.config.memory.is_some() { 1 } else { 2 })
        .sum();
    assert_eq!(one.len(), cells * 2);
}

#[test]
fn every_seeded_strategy_explores_the_same_executions_for_a_seed() {
    for s in [
        SchedulerSpec::Guided { depth: 3, seed: 7 },
        SchedulerSpec::Pos { seed: 7 },
    ] {
        for memory in [MemoryModel::Sc, MemoryModel::Lkmm] {
            let run = || {
                Explorer::new("concurrent_srcu", "naive-fixed")
                    .unwrap()
                    .scheduler(s)
                    .memory(memory)
                    .budget(Budget::Executions(2_000))
                    .run()
            };
            let (a, b) = (run(), run());
            assert_eq!(a.executions, b.executions, "{s} under {memory}");
            let (ta, tb) = (a.trace.expect("found"), b.trace.expect("found"));
            assert_eq!(ta.decisions, tb.decisions, "{s} under {memory}");
        }
    }
}

#[test]
fn a_guided_trace_replays_its_failure() {
    let r = Explorer::new("state_in_sysfs", "check-outside-section")
        .unwrap()
        .scheduler(SchedulerSpec::Guided { depth: 3, seed: 2 })
        .budget(Budget::Executions(2_000))
        .run();
    let (f, t) = (r.failure.expect("found"), r.trace.expect("traced"));
    let replayed = t.replay().unwrap();
    assert_eq!(replayed.failure.map(|g| g.kind), Some(f.kind));
    assert!(replayed.divergence.is_none());
}

#[test]
fn bench_prints_a_row_per_variant_and_model_and_json_on_request() {
    let args = [
        "bench",
        "--harness",
        "mutex_unlock_free",
        "--seeds",
        "2",
        "--budget",
        "200",
        "--scheduler",
        "pct,uniform",
        "--memory",
        "sc",
    ];
    let o = kgrace(&args);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout);
    let failing: Vec<_> = harness::find("mutex_unlock_free")
        .unwrap()
        .variants
        .iter()
        .filter(|v| v.expected.fails())
        .collect();
    for v in &failing {
        assert!(out.contains(&format!("mutex_unlock_free {} ", v.name)), "{out}");
    }
    assert!(
        out.contains("pct") && out.contains("uniform") && out.contains("/2)"),
        "{out}"
    );

    let o = kgrace(&[&args[..], &["--json"]].concat());
    assert_eq!(o.status.code(), Some(0));
    let rows: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), failing.len() * 2);
    for r in rows {
        assert_eq!(r["seeds"], 2);
        assert_eq!(r["memory"], "sc");
        assert_eq!(r["executions"].as_array().unwrap().len(), 2);
    }
}

#[test]
fn bench_refuses_bad_input_with_exit_2() {
    for (args, says) in [
        (&["bench", "--scheduler", "dfs"][..], "exhaustive"),
        (&["bench", "--harness", "nope"][..], "nope"),
        (&["bench", "--seeds", "0"][..], "seeds"),
        (&["bench", "--budget", "0"][..], "budget"),
        (&["bench", "--scheduler", "magic"][..], "magic"),
    ] {
        let o = kgrace(args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}
