//! `kgrace bench`: executions to the first failure, per failing variant, strategy and memory model.

use std::io::IsTerminal;

use anyhow::Result;

use crate::bench::{self, BenchSpec, Row};
use crate::harness::Harness;
use crate::MemoryModel;

use super::{sched_spec, Memory, Sched};

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Seeds 1..=N per cell.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    seeds: u64,
    /// Executions per seed: a seed that has not found the failure by then counts as not found.
    #[arg(long, default_value_t = 1_000, value_parser = super::parse_iterations)]
    budget: u64,
    /// The strategies to compare (repeat, or separate with commas); default all of the
    /// randomized ones.
    #[arg(long = "scheduler", value_enum, value_delimiter = ',')]
    schedulers: Vec<Sched>,
    /// The memory models (repeat, or separate with commas); default both.
    #[arg(long, value_enum, value_delimiter = ',')]
    memory: Vec<Memory>,
    /// Only this harness (repeat for several); default all.
    #[arg(long = "harness")]
    harnesses: Vec<String>,
    /// PCT bug depth (the portfolio's and stall's too; guided's PCT arm runs one deeper).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=16))]
    depth: u32,
    /// Worker threads (default: the number of cores). The table does not depend on it.
    #[arg(long)]
    jobs: Option<usize>,
    /// One JSON array of rows on stdout instead of the table.
    #[arg(long)]
    json: bool,
}

pub fn bench(registry: &'static [Harness], args: &BenchArgs) -> Result<u8> {
    let schedulers = if args.schedulers.is_empty() {
        Sched::RANDOMIZED.to_vec()
    } else {
        args.schedulers.clone()
    };
    if schedulers.contains(&Sched::Dfs) {
        anyhow::bail!(
            "`--scheduler dfs` is exhaustive and seedless: the bench compares randomized strategies \
             over seeds; use `kgrace run --scheduler dfs` to measure it"
        );
    }
    let memories = if args.memory.is_empty() {
        vec![MemoryModel::Sc, MemoryModel::Lkmm]
    } else {
        args.memory.iter().map(|&m| m.into()).collect()
    };
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let spec = BenchSpec {
        strategies: schedulers
            .iter()
            .map(|&s| sched_spec(s, args.depth, 0, 0))
            .collect(),
        memories,
        seeds: args.seeds,
        budget: args.budget,
        harnesses: args.harnesses.clone(),
        jobs,
    };
    let pb = std::io::stderr().is_terminal().then(|| {
        let pb = indicatif::ProgressBar::new(0);
        pb.set_style(
            indicatif::ProgressStyle::with_template("bench [{elapsed}] {wide_bar} {pos}/{len} cells")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        pb
    });
    let tick = |n: usize, all: usize| {
        if let Some(pb) = &pb {
            pb.set_length(all as u64);
            pb.set_position(n as u64);
        }
    };
    let rows = bench::bench_in(registry, &spec, Some(&tick))?;
    if let Some(pb) = pb {
        pb.finish_and_clear();
    }
    if args.json {
        outln!("{}", serde_json::to_string(&rows)?);
    } else {
        print_table(&rows, &spec);
    }
    Ok(0)
}

/// One line per variant and memory model, one column per strategy: `median (found/seeds)`.
fn print_table(rows: &[Row], spec: &BenchSpec) {
    let names: Vec<&str> = spec.strategies.iter().map(|s| s.name()).collect();
    outln!(
        "executions to the first failure: median over seeds 1..={} (seeds that found it), budget {}",
        spec.seeds,
        spec.budget
    );
    out!("{:<46} {:<5}", "variant", "mem");
    for n in &names {
        out!(" {n:>14}");
    }
    outln!();
    for chunk in rows.chunks(names.len()) {
        let r = &chunk[0];
        out!(
            "{:<46} {:<5}",
            format!("{} {}", r.harness, r.variant),
            r.memory.to_string()
        );
        for c in chunk {
            let m = c.median.map_or_else(|| "-".to_string(), |m| m.to_string());
            out!(" {:>14}", format!("{m} ({}/{})", c.found, c.seeds));
        }
        outln!();
    }
}
