//! `cargo bench --bench fuzz_speed`: executions/s of `kgrace run` (the PCT explorer) against the
//! fuzz target's session (one execution per input, the runner kept alive between inputs), the
//! session with and without interleaving coverage, and a naive target that builds a runner per
//! input, side by side in one run. Rounds alternate, so
//! machine noise hits all alike; medians are reported.
//!
//! This measures kgrace's side of fuzzing only. Under `cargo fuzz run` every crate is also
//! compiled with coverage instrumentation and libFuzzer adds its per-input work; `ci/fuzz-speed.sh`
//! measures that end to end.

use std::time::{Duration, Instant};

use kgrace::fuzz::{self, FuzzInput, FuzzSchedule, Session};
use kgrace::sched::{SchedulerSpec, SplitMix64};
use kgrace::{Budget, Explorer};

const HARNESS: &str = "mutex_unlock_free";
/// A variant that passes, so that every execution runs to the end in all three modes.
const VARIANT: &str = "fixed";
const ROUND: Duration = Duration::from_millis(700);
const ROUNDS: usize = 7;

fn explorer_rate(seed: u64) -> f64 {
    Explorer::new(HARNESS, VARIANT)
        .unwrap()
        .scheduler(SchedulerSpec::Pct { depth: 3, seed })
        .budget(Budget::Time(ROUND))
        .run()
        .rate()
}

/// Random inputs of 8 to 40 bytes, decoded beforehand as libFuzzer's `fuzz_target!` does before
/// it calls the target.
fn inputs(seed: u64) -> Vec<FuzzInput> {
    let mut rng = SplitMix64::new(seed);
    (0..4096)
        .map(|_| {
            let len = 8 + rng.below(33);
            let bytes: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
            FuzzInput::decode(&bytes)
        })
        .collect()
}

fn session_rate(session: &mut Session, inputs: &[FuzzInput], coverage: bool) -> f64 {
    fuzz::set_interleaving_coverage(coverage);
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < ROUND {
        for input in inputs.iter().take(256) {
            fuzz::clear_interleaving_coverage();
            assert!(session.run(input).is_none(), "{VARIANT} fails");
        }
        n += 256;
    }
    fuzz::set_interleaving_coverage(false);
    n as f64 / start.elapsed().as_secs_f64()
}

/// The naive target: a fresh shuttle runner (and pool of task stacks) for every input.
fn runner_per_input_rate(session: &Session, inputs: &[FuzzInput]) -> f64 {
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < ROUND {
        for input in inputs.iter().take(256) {
            let mut schedule = FuzzSchedule::new(session.horizon());
            schedule.set_input(input);
            let report = Explorer::new(HARNESS, VARIANT)
                .unwrap()
                .budget(Budget::Executions(1))
                .run_strategy(schedule, None);
            assert!(report.failure.is_none(), "{VARIANT} fails");
        }
        n += 256;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let mut session = Session::new(HARNESS, VARIANT).unwrap();
    let (mut run, mut plain, mut covered, mut naive) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for round in 0..ROUNDS as u64 {
        let inputs = inputs(round);
        run.push(explorer_rate(round));
        plain.push(session_rate(&mut session, &inputs, false));
        covered.push(session_rate(&mut session, &inputs, true));
        naive.push(runner_per_input_rate(&session, &inputs));
    }
    let (run, plain, covered, naive) = (median(run), median(plain), median(covered), median(naive));
    println!("{HARNESS} [{VARIANT}], median of {ROUNDS} alternating rounds of {ROUND:?}:");
    println!("  kgrace run (PCT explorer)           {run:>9.0} executions/s");
    println!(
        "  fuzz session, no coverage           {plain:>9.0} executions/s  ({:.2} of kgrace run)",
        plain / run
    );
    println!(
        "  fuzz session, reads-from coverage   {covered:>9.0} executions/s  ({:.2} of kgrace run)",
        covered / run
    );
    println!(
        "  a new shuttle runner per input      {naive:>9.0} executions/s  ({:.2} of kgrace run)",
        naive / run
    );
}
