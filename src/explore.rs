//! Exploring a harness variant: run executions under a strategy until one fails or the budget
//! runs out, then turn the failing execution into a [`Trace`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::MemoryModel;
use crate::exec::{self, FirstFailure, Limits, Target};
use crate::failure::Failure;
use crate::harness::{self, Harness, Variant};
use crate::sched::{SchedulerSpec, SplitMix64, Strategy};
use crate::trace::Trace;

/// How long to explore.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Budget {
    /// At most this many executions.
    Executions(u64),
    /// For at most this long.
    Time(Duration),
}

/// Explores one variant of one harness.
#[derive(Clone, Debug)]
pub struct Explorer {
    harness: &'static Harness,
    variant: &'static Variant,
    scheduler: SchedulerSpec,
    budget: Budget,
    memory: MemoryModel,
    /// Whether a failure is replayed once more to record its trace.
    traced: bool,
    /// Worker threads ([`Explorer::jobs`]).
    jobs: usize,
}

/// What an exploration found.
#[derive(Debug)]
pub struct Report {
    /// Executions run, the failing one included.
    pub executions: u64,
    /// Wall-clock time of the exploration (the trace replay not included).
    pub elapsed: Duration,
    /// The first failure, if any.
    pub failure: Option<Failure>,
    /// The failing execution as a trace, if any.
    pub trace: Option<Trace>,
    /// The strategy ran out of executions to try before the budget (`dfs` explored every
    /// execution within its bounds): with no failure, the variant is proved for those bounds.
    pub exhausted: bool,
    /// The memory model the executions ran under.
    pub memory: MemoryModel,
}

impl Report {
    /// Executions per second.
    pub fn rate(&self) -> f64 {
        self.executions as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

impl Explorer {
    /// Explore `variant` of `harness` (names as `kgrace list` prints them) with the guided
    /// strategy (`depth` 3, its PCT arm one deeper), seed 0, for 1,000 executions; change any of
    /// these with the builder methods.
    pub fn new(harness: &str, variant: &str) -> Result<Explorer, crate::Error> {
        let h = harness::find(harness)?;
        let v = h.variant(variant)?;
        Ok(Explorer::for_variant(h, v))
    }

    /// [`new`](Explorer::new) for a harness and variant already looked up.
    pub fn for_variant(harness: &'static Harness, variant: &'static Variant) -> Explorer {
        Explorer {
            harness,
            variant,
            scheduler: SchedulerSpec::Guided { depth: 3, seed: 0 },
            budget: Budget::Executions(1_000),
            memory: MemoryModel::Sc,
            traced: true,
            jobs: 1,
        }
    }

    /// Explore a model written outside the harness registry: `body` runs as CPU0 of every
    /// execution (spawning CPUs, joining them), exactly like a harness's code. For tests of the
    /// model itself and for users' own harnesses.
    pub fn from_fn(name: &'static str, body: fn()) -> Explorer {
        Explorer::from_fn_with(name, harness::Config::DEFAULT, body)
    }

    /// [`from_fn`](Explorer::from_fn) under a kernel configuration other than the default (the
    /// grace-period oracle on, refetching, KCSAN off, ...).
    pub fn from_fn_with(name: &'static str, config: harness::Config, body: fn()) -> Explorer {
        let h: &'static Harness = Box::leak(Box::new(Harness {
            name,
            thread: "",
            question: "",
            variants: Box::leak(Box::new([Variant {
                name: "model",
                expected: harness::Expected::Passes,
                summary: "",
                config,
            }])),
            body: harness::Body::plain(body),
        }));
        Explorer {
            harness: h,
            variant: &h.variants[0],
            scheduler: SchedulerSpec::Guided { depth: 3, seed: 0 },
            budget: Budget::Executions(1_000),
            memory: MemoryModel::Sc,
            traced: true,
            jobs: 1,
        }
    }

    /// Use this strategy and seed.
    pub fn scheduler(mut self, s: SchedulerSpec) -> Self {
        self.scheduler = s;
        self
    }

    /// Run under this memory model (default `sc`; a variant that pins one keeps its own).
    pub fn memory(mut self, m: MemoryModel) -> Self {
        self.memory = m;
        self
    }

    /// Stop after this budget.
    pub fn budget(mut self, b: Budget) -> Self {
        self.budget = b;
        self
    }

    /// Explore on `n` worker threads (default 1). Worker 0 runs the strategy with the run's seed
    /// and worker `j` with [`worker_seed`]`(seed, j)`, each with its share of the execution
    /// budget (or the whole time budget), and all stop at the first failure any of them finds.
    /// Each worker's executions are a deterministic stream: the failure's trace records its
    /// worker's seed, so `--seed` that seed with one job finds it again. One job is exactly the
    /// sequential exploration. The exhaustive `dfs` is not split and runs on one thread.
    pub fn jobs(mut self, n: usize) -> Self {
        self.jobs = n.max(1);
        self
    }

    /// Run the exploration. `progress` is called with the number of executions so far, every few
    /// hundred executions.
    pub fn run_with_progress(self, progress: Option<Box<dyn FnMut(u64)>>) -> Report {
        if self.jobs > 1 && self.scheduler.seed().is_some() {
            return self.run_parallel(progress);
        }
        let strategy = self
            .scheduler
            .build()
            .expect("exploration needs a seeded strategy (guided, portfolio, pct, uniform, pos, stall, random or dfs)");
        self.run_strategy(strategy, progress)
    }

    /// Run the exploration.
    pub fn run(self) -> Report {
        self.run_with_progress(None)
    }

    /// Run the exploration without recording a trace of the failure (`Report::trace` is `None`):
    /// for measurements that only need the verdict and the execution count.
    pub fn run_untraced(mut self) -> Report {
        self.traced = false;
        self.run_with_progress(None)
    }

    /// The parallel exploration of [`Explorer::jobs`].
    fn run_parallel(self, mut progress: Option<Box<dyn FnMut(u64)>>) -> Report {
        let n = self.jobs.min(FirstFailure::MAX_WORKERS as usize);
        let seed = self.scheduler.seed().unwrap_or(0);
        let first = Arc::new(FirstFailure::new());
        let counts: Arc<Vec<AtomicU64>> = Arc::new((0..n).map(|_| AtomicU64::new(0)).collect());
        let start = Instant::now();
        let budget = |j: usize| match self.budget {
            Budget::Executions(e) => Some(e / n as u64 + u64::from((j as u64) < e % n as u64)),
            Budget::Time(_) => None,
        };
        let reports: Vec<Report> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..n)
                .map(|j| {
                    let mut me = self.clone();
                    me.jobs = 1;
                    me.scheduler = self.scheduler.with_seed(worker_seed(seed, j));
                    if let Some(e) = budget(j) {
                        me.budget = Budget::Executions(e);
                    }
                    let (first, counts) = (first.clone(), counts.clone());
                    scope.spawn(move || {
                        let tick = Box::new(move |e: u64| counts[j].store(e, Ordering::Relaxed));
                        let strategy = me.scheduler.build().expect("a seeded strategy");
                        let r = me.run_limited(strategy, Some(tick), Some((first.clone(), j as u64)));
                        if r.failure.is_some() {
                            first.found(r.executions, j as u64);
                        }
                        r
                    })
                })
                .collect();
            while !workers.iter().all(|w| w.is_finished()) {
                std::thread::sleep(Duration::from_millis(50));
                if let Some(p) = progress.as_mut() {
                    p(counts.iter().map(|c| c.load(Ordering::Relaxed)).sum());
                }
            }
            workers
                .into_iter()
                .map(|w| w.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        });
        let exhausted = reports.iter().all(|r| r.exhausted);
        let memory = reports[0].memory;
        match first.first() {
            Some((e, w)) => {
                // Counted up to the first failure in the order of `FirstFailure`, which the
                // workers all reached whatever their timing: the count is deterministic too.
                // Worker k ran at least its executions before (e, w) in that order, or its
                // whole budget if that came first.
                let executions = (0..n as u64)
                    .map(|k| match k.cmp(&w) {
                        std::cmp::Ordering::Equal => e,
                        std::cmp::Ordering::Less => e.min(reports[k as usize].executions),
                        std::cmp::Ordering::Greater => (e - 1).min(reports[k as usize].executions),
                    })
                    .sum();
                let r = reports
                    .into_iter()
                    .nth(w as usize)
                    .expect("the failing worker's report");
                Report {
                    executions,
                    elapsed: start.elapsed(),
                    failure: r.failure,
                    trace: r.trace,
                    exhausted: false,
                    memory,
                }
            }
            None => Report {
                executions: reports.iter().map(|r| r.executions).sum(),
                elapsed: start.elapsed(),
                failure: None,
                trace: None,
                exhausted,
                memory,
            },
        }
    }

    /// Run the exploration under any strategy (the fuzzer's, a test's).
    pub fn run_strategy<S: Strategy + 'static>(
        self,
        strategy: S,
        progress: Option<Box<dyn FnMut(u64)>>,
    ) -> Report {
        self.run_limited(strategy, progress, None)
    }

    fn run_limited<S: Strategy + 'static>(
        self,
        strategy: S,
        progress: Option<Box<dyn FnMut(u64)>>,
        stop: Option<(Arc<FirstFailure>, u64)>,
    ) -> Report {
        let limits = match self.budget {
            Budget::Executions(n) => Limits {
                executions: Some(n),
                time: None,
                stop,
            },
            Budget::Time(t) => Limits {
                executions: None,
                time: Some(t),
                stop,
            },
        };
        let target = Target {
            harness: self.harness,
            variant: self.variant,
            memory: self.memory,
        };
        let start = Instant::now();
        let explored = exec::explore(target, strategy, limits, progress);
        let elapsed = start.elapsed();
        let out = explored.outcome;
        let exhausted = out.exhausted && explored.failure.is_none();
        let trace = explored
            .failure
            .as_ref()
            .filter(|_| self.traced)
            .map(|_| Trace::record(target, self.scheduler, out.executions, out.decisions.clone()));
        Report {
            executions: out.executions,
            elapsed,
            failure: explored.failure,
            trace,
            exhausted,
            memory: target.memory(),
        }
    }
}

/// The seed of worker `j` of a parallel exploration whose seed is `seed`: worker 0 keeps `seed`
/// (one job is the sequential exploration), the others get well-spread seeds of their own.
pub fn worker_seed(seed: u64, j: usize) -> u64 {
    if j == 0 {
        seed
    } else {
        SplitMix64::new(seed ^ (j as u64).wrapping_mul(0xd1b5_4a32_d192_ed03)).next_u64()
    }
}
