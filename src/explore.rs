//! Exploring a harness variant: run executions under a strategy until one fails or the budget
//! runs out, then turn the failing execution into a [`Trace`].

use std::time::{Duration, Instant};

use shuttle::{Config as ShuttleConfig, FailurePersistence, MaxSteps, Runner};

use crate::engine::{self, adapter::Adapter};
use crate::failure::Failure;
use crate::harness::{self, Harness, Variant};
use crate::sched::{Decision, SchedulerSpec, Strategy};
use crate::trace::{self, Trace};

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
#[derive(Debug)]
pub struct Explorer {
    harness: &'static Harness,
    variant: &'static Variant,
    scheduler: SchedulerSpec,
    budget: Budget,
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
}

impl Report {
    /// Executions per second.
    pub fn rate(&self) -> f64 {
        self.executions as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

impl Explorer {
    /// Explore `variant` of `harness` (names as `kgrace list` prints them) with PCT of depth 3,
    /// seed 0, for 1,000 executions; change any of these with the builder methods.
    pub fn new(harness: &str, variant: &str) -> Result<Explorer, crate::Error> {
        let h = harness::find(harness)?;
        let v = h.variant(variant)?;
        Ok(Explorer {
            harness: h,
            variant: v,
            scheduler: SchedulerSpec::Portfolio { depth: 3, seed: 0 },
            budget: Budget::Executions(1_000),
        })
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
            body: harness::Body::Plain(body),
        }));
        Explorer {
            harness: h,
            variant: &h.variants[0],
            scheduler: SchedulerSpec::Portfolio { depth: 3, seed: 0 },
            budget: Budget::Executions(1_000),
        }
    }

    /// Use this strategy and seed.
    pub fn scheduler(mut self, s: SchedulerSpec) -> Self {
        self.scheduler = s;
        self
    }

    /// Stop after this budget.
    pub fn budget(mut self, b: Budget) -> Self {
        self.budget = b;
        self
    }

    /// Run the exploration. `progress` is called with the number of executions so far, every few
    /// hundred executions.
    pub fn run_with_progress(self, progress: Option<Box<dyn FnMut(u64)>>) -> Report {
        let strategy = self
            .scheduler
            .build()
            .expect("exploration needs a seeded strategy (portfolio, pct, uniform or random)");
        self.run_strategy(strategy, progress)
    }

    /// Run the exploration.
    pub fn run(self) -> Report {
        self.run_with_progress(None)
    }

    /// Run the exploration under any strategy (the fuzzer's, a test's).
    pub fn run_strategy<S: Strategy + 'static>(
        self,
        strategy: S,
        progress: Option<Box<dyn FnMut(u64)>>,
    ) -> Report {
        let (max, time) = match self.budget {
            Budget::Executions(n) => (Some(n), None),
            Budget::Time(t) => (None, Some(t)),
        };
        let (adapter, outcome) = Adapter::new(strategy, max, time, progress);
        let start = Instant::now();
        run_runner(adapter, self.harness, self.variant);
        let elapsed = start.elapsed();
        let out = outcome.borrow();
        let failure = if out.failed { engine::take_failure() } else { None };
        let trace = failure.as_ref().map(|_| {
            trace_of(
                self.harness,
                self.variant,
                self.scheduler,
                out.executions,
                out.decisions.clone(),
            )
        });
        Report {
            executions: out.executions,
            elapsed,
            failure,
            trace,
        }
    }
}

/// The trace of one execution: its decisions, and the events and failure of replaying them.
pub(crate) fn trace_of(
    h: &'static Harness,
    v: &'static Variant,
    scheduler: SchedulerSpec,
    execution: u64,
    decisions: Vec<Decision>,
) -> Trace {
    let r = trace::replay_decisions(h, v, decisions.clone());
    Trace {
        format: trace::FORMAT.into(),
        version: trace::VERSION,
        kgrace_version: env!("CARGO_PKG_VERSION").into(),
        shuttle_version: trace::SHUTTLE_VERSION.into(),
        harness: h.name.into(),
        variant: v.name.into(),
        scheduler,
        execution,
        decisions,
        events: r.events,
        failure: r.failure,
    }
}

/// Run executions of `v` under the adapter until it says stop.
pub(crate) fn run_runner<S: Strategy + 'static>(
    adapter: Adapter<S>,
    h: &'static Harness,
    v: &'static Variant,
) {
    let mut config = ShuttleConfig::new();
    config.failure_persistence = FailurePersistence::None;
    config.silence_warnings = true;
    // kgrace bounds executions in model steps and reports livelock itself.
    config.max_steps = MaxSteps::None;
    let runner = Runner::new(adapter, config);
    runner.run(move || harness::execute(h, v));
}
