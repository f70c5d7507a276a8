//! `kgrace bench`: how fast each strategy finds each failing variant.
//!
//! A scheduler change is judged by one number per bug: how many executions it takes to find it.
//! For every failing variant of every harness, under every strategy and memory model asked for,
//! the bench explores seeds `1..=seeds` with a budget of `budget` executions each and reports in
//! how many seeds the failure was found and the median executions to the first failure (seeds
//! that did not find it count as worse than any that did). Execution counts, unlike times, are
//! deterministic: the same build gives the same table on any machine.

use serde::Serialize;

use crate::config::MemoryModel;
use crate::explore::{Budget, Explorer, Report};
use crate::harness::{self, Harness, Variant};
use crate::sched::SchedulerSpec;

/// What to measure.
#[derive(Clone, Debug)]
pub struct BenchSpec {
    /// The strategies, each with its own parameters (the seed is replaced by each bench seed).
    pub strategies: Vec<SchedulerSpec>,
    /// The memory models (a variant that pins one is measured once, under its own).
    pub memories: Vec<MemoryModel>,
    /// Seeds `1..=seeds`.
    pub seeds: u64,
    /// Executions per seed.
    pub budget: u64,
    /// Only these harnesses (all when empty).
    pub harnesses: Vec<String>,
    /// Worker threads (each exploration is single-threaded and deterministic; the table does
    /// not depend on the number of workers).
    pub jobs: usize,
}

/// One cell of the table: a variant under a strategy and a memory model.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// Harness name.
    pub harness: &'static str,
    /// Variant name.
    pub variant: &'static str,
    /// The strategy's name (`kgrace run --scheduler` spelling).
    pub strategy: &'static str,
    /// The memory model the executions ran under.
    pub memory: MemoryModel,
    /// Seeds whose exploration found the failure.
    pub found: u64,
    /// Seeds run.
    pub seeds: u64,
    /// Median executions to the first failure; `None` when half the seeds or more did not find it.
    pub median: Option<u64>,
    /// Executions to the first failure, per seed (`None`: not found within the budget).
    pub executions: Vec<Option<u64>>,
}

/// The failing variants of `harnesses` (all harnesses when empty), each with the memory models
/// it is measured under.
fn cells(
    registry: &'static [Harness],
    spec: &BenchSpec,
) -> Result<Vec<(&'static Harness, &'static Variant, MemoryModel)>, crate::Error> {
    let hs: Vec<&'static Harness> = if spec.harnesses.is_empty() {
        registry.iter().collect()
    } else {
        spec.harnesses
            .iter()
            .map(|n| harness::find_in(registry, n))
            .collect::<Result<_, _>>()?
    };
    Ok(failing_cells(hs, &spec.memories))
}

/// Every failing variant of `harnesses` under each of `memories` it runs under: a variant that
/// pins one memory model is measured once, under its own.
pub fn failing_cells(
    harnesses: impl IntoIterator<Item = &'static Harness>,
    memories: &[MemoryModel],
) -> Vec<(&'static Harness, &'static Variant, MemoryModel)> {
    let mut out = Vec::new();
    for h in harnesses {
        for v in h.variants.iter().filter(|v| v.expected.fails()) {
            let mut seen = Vec::new();
            for &m in memories {
                let m = v.config.memory_for(m);
                if !seen.contains(&m) {
                    seen.push(m);
                    out.push((h, v, m));
                }
            }
        }
    }
    out
}

/// Run the bench on the built-in harnesses. `progress` is called after each cell with (cells
/// done, cells in all).
pub fn bench(
    spec: &BenchSpec,
    progress: Option<&(dyn Fn(usize, usize) + Sync)>,
) -> Result<Vec<Row>, crate::Error> {
    bench_in(harness::all(), spec, progress)
}

/// [`bench()`] on `harnesses` (a binary's registry, as given to [`cli::main`](crate::cli::main)).
pub fn bench_in(
    harnesses: &'static [Harness],
    spec: &BenchSpec,
    progress: Option<&(dyn Fn(usize, usize) + Sync)>,
) -> Result<Vec<Row>, crate::Error> {
    let cells = cells(harnesses, spec)?;
    let mut work = Vec::new();
    for &(h, v, m) in &cells {
        for &s in &spec.strategies {
            work.push((h, v, m, s));
        }
    }
    Ok(crate::pool::map_ordered(
        &work,
        spec.jobs,
        |&(h, v, m, s)| measure(h, v, m, s, spec.seeds, spec.budget),
        |n| {
            if let Some(p) = progress {
                p(n, work.len());
            }
        },
    ))
}

/// One cell: seeds `1..=seeds` of `strategy` on `v` under `memory`.
pub fn measure(
    h: &'static Harness,
    v: &'static Variant,
    memory: MemoryModel,
    strategy: SchedulerSpec,
    seeds: u64,
    budget: u64,
) -> Row {
    measure_with(h, v, memory, strategy.name(), seeds, budget, |e, seed| {
        e.scheduler(strategy.with_seed(seed)).run_untraced()
    })
}

/// One cell, each seed's exploration run by `run` (given the explorer, with `memory` and the
/// budget set, and the seed): for a strategy no [`SchedulerSpec`] names, such as one arm of the
/// guided strategy alone (`examples/arm_rates.rs`). `strategy` names it in the row.
pub fn measure_with(
    h: &'static Harness,
    v: &'static Variant,
    memory: MemoryModel,
    strategy: &'static str,
    seeds: u64,
    budget: u64,
    run: impl Fn(Explorer, u64) -> Report,
) -> Row {
    let executions: Vec<Option<u64>> = (1..=seeds)
        .map(|seed| {
            let explorer = Explorer::for_variant(h, v)
                .memory(memory)
                .budget(Budget::Executions(budget));
            let r = run(explorer, seed);
            r.failure
                .filter(|f| v.expected.matches(Some(f.kind)))
                .map(|_| r.executions)
        })
        .collect();
    let found = executions.iter().filter(|e| e.is_some()).count() as u64;
    Row {
        harness: h.name,
        variant: v.name,
        strategy,
        memory,
        found,
        seeds,
        median: median(&executions),
        executions,
    }
}

/// The median, not-found counting as worse than any count; `None` if it falls on a not-found.
/// For an even number of seeds, the lower of the two middle values (a count that was observed).
pub fn median(executions: &[Option<u64>]) -> Option<u64> {
    if executions.is_empty() {
        return None;
    }
    let mut v: Vec<u64> = executions.iter().map(|e| e.unwrap_or(u64::MAX)).collect();
    v.sort_unstable();
    let m = v[(v.len() - 1) / 2];
    (m != u64::MAX).then_some(m)
}
