//! `arm_rates`: how often each arm of the guided strategy, run alone, finds each failing
//! variant, and `portfolio` beside them: the measurements the guided strategy's shares are
//! chosen from (`docs/scheduling.md`, "Choosing the shares again").
//!
//! ```console
//! $ cargo run --release --example arm_rates -- 100 > rates.json
//! $ python3 scripts/priors.py rates.json
//! ```
//!
//! An arm "alone" is the guided strategy with that arm's share at 100 and the others' at 0.01:
//! the mutation and the reversal need executions to learn from, and those come mostly from
//! themselves. A cell's rate is the failures found over the executions run, over seeds
//! `1..=SEEDS` (default 100) with a budget of `BUDGET` (default 1,000) executions each, a seed
//! that found nothing counting its whole budget: the rate of a geometric count, whose median is
//! about `ln 2 / rate`. Output: one JSON object per cell and strategy, one per line.

mod common;

use kgrace::bench;
use kgrace::harness::{self, Harness, Variant};
use kgrace::sched::{Guided, SchedulerSpec};
use kgrace::MemoryModel;

/// Which strategy a measurement runs: one of the guided strategy's arms alone, or `portfolio`.
#[derive(Clone, Copy)]
enum Strategy {
    Arm(usize),
    Portfolio,
}

fn main() {
    let mut args = std::env::args().skip(1);
    let seeds = common::number(args.next(), 100, "SEEDS", USAGE);
    let budget = common::number(args.next(), 1_000, "BUDGET", USAGE);
    if args.next().is_some() {
        common::fail("arm_rates: too many arguments", USAGE);
    }

    let cells = bench::failing_cells(harness::all(), &MemoryModel::ALL);
    // The portfolio arm alone is `portfolio`, measured as itself.
    let strategies: Vec<Strategy> = (0..Guided::ARM_NAMES.len())
        .filter(|&a| Guided::ARM_NAMES[a] != "portfolio")
        .map(Strategy::Arm)
        .chain([Strategy::Portfolio])
        .collect();
    let work: Vec<_> = cells
        .iter()
        .flat_map(|&c| strategies.iter().map(move |&s| (c, s)))
        .collect();

    // The lines are printed in the order of `work`, whatever the number of threads.
    let lines = common::parallel(
        &work,
        |&((h, v, m), s)| measure(h, v, m, s, seeds, budget),
        |n| eprint!("\r{n}/{} cells", work.len()),
    );
    eprintln!();
    for line in lines {
        println!("{line}");
    }
}

/// One cell under one strategy, as a JSON line.
fn measure(
    h: &'static Harness,
    v: &'static Variant,
    memory: MemoryModel,
    strategy: Strategy,
    seeds: u64,
    budget: u64,
) -> String {
    let row = match strategy {
        Strategy::Arm(arm) => {
            let mut shares = [0.01; Guided::ARM_NAMES.len()];
            shares[arm] = 100.0;
            let name = Guided::ARM_NAMES[arm];
            bench::measure_with(h, v, memory, name, seeds, budget, |e, seed| {
                e.run_strategy(Guided::new(3, seed).with_shares(shares), None)
            })
        }
        Strategy::Portfolio => {
            let portfolio = SchedulerSpec::Portfolio { depth: 3, seed: 0 };
            bench::measure(h, v, memory, portfolio, seeds, budget)
        }
    };
    // A seed that found nothing ran its whole budget.
    let executions: u64 = row.executions.iter().map(|e| e.unwrap_or(budget)).sum();
    serde_json::json!({
        "harness": row.harness,
        "variant": row.variant,
        "memory": row.memory,
        "strategy": row.strategy,
        "seeds": seeds,
        "found": row.found,
        "executions": executions,
        "rate": row.found as f64 / executions as f64,
    })
    .to_string()
}

const USAGE: &str = "cargo run --release --example arm_rates -- [SEEDS [BUDGET]]";
