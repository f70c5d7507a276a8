//! `cargo bench`: executions/s of every passing harness variant, and the per-step cost of the kgrace model
//! against the same steps written directly on shuttle's own atomics, measured side by side in one
//! run (rounds alternate, so machine noise hits both alike; the median ratio is reported).

use std::time::Instant;

use kgrace::kernel::*;
use kgrace::sched::SchedulerSpec;
use kgrace::{Budget, Explorer};

/// Atomic increments per CPU in the step-cost program.
const INCS: usize = 100;
const EXECUTIONS: u64 = 2_000;
const ROUNDS: usize = 7;

kgrace::kstruct! {
    struct Counter("counter") { v: Word<i64> }
}

/// The model: two CPUs, `INCS` `atomic_inc`s each, on one word of a kzalloc'ed object.
fn model_body() {
    let c: Counter = kzalloc();
    let a = spawn_cpu("a", move || (0..INCS).for_each(|_| atomic_inc(c.v())));
    let b = spawn_cpu("b", move || (0..INCS).for_each(|_| atomic_inc(c.v())));
    a.join();
    b.join();
    kfree(c);
}

/// The same program on shuttle's atomics, without kgrace.
fn raw_body() {
    use shuttle::sync::atomic::{AtomicI64, Ordering};
    use std::sync::Arc;
    let c = Arc::new(AtomicI64::new(0));
    let (c1, c2) = (c.clone(), c.clone());
    let a = shuttle::thread::spawn(move || {
        (0..INCS).for_each(|_| {
            c1.fetch_add(1, Ordering::SeqCst);
        })
    });
    let b = shuttle::thread::spawn(move || {
        (0..INCS).for_each(|_| {
            c2.fetch_add(1, Ordering::SeqCst);
        })
    });
    a.join().unwrap();
    b.join().unwrap();
}

fn time_model() -> f64 {
    let r = Explorer::from_fn("step-cost", model_body)
        .scheduler(SchedulerSpec::Random { seed: 1 })
        .budget(Budget::Executions(EXECUTIONS))
        .run();
    assert!(r.failure.is_none());
    r.elapsed.as_secs_f64()
}

fn time_raw() -> f64 {
    let mut config = shuttle::Config::new();
    config.silence_warnings = true;
    let sched = shuttle::scheduler::RandomScheduler::new_from_seed(1, EXECUTIONS as usize);
    let start = Instant::now();
    shuttle::Runner::new(sched, config).run(raw_body);
    start.elapsed().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    // cargo bench passes --bench; a filter argument is not supported and ignored.
    let steps = (EXECUTIONS as usize * 2 * INCS) as f64;
    let (mut model, mut raw, mut ratio) = (vec![], vec![], vec![]);
    time_model();
    time_raw();
    for _ in 0..ROUNDS {
        let m = time_model();
        let r = time_raw();
        model.push(m / steps * 1e9);
        raw.push(r / steps * 1e9);
        ratio.push(m / r);
    }
    println!(
        "per-step cost, {} executions x {} atomic increments, median of {ROUNDS} alternating rounds:",
        EXECUTIONS,
        2 * INCS
    );
    println!(
        "  kgrace model (atomic_inc, race + UAF checks): {:>7.1} ns/step",
        median(model)
    );
    println!(
        "  raw shuttle  (AtomicI64::fetch_add):          {:>7.1} ns/step",
        median(raw)
    );
    println!(
        "  ratio model/raw:                              {:>7.2}x",
        median(ratio)
    );

    // Every passing variant runs its full budget, so its rate is the cost of an execution.
    println!("executions/s of each passing variant (portfolio, seed 1, 20,000 executions, median of 3):");
    for h in kgrace::harness::all() {
        for v in h
            .variants
            .iter()
            .filter(|v| v.expected == kgrace::harness::Expected::Passes)
        {
            let mut rates = vec![];
            for _ in 0..3 {
                let r = Explorer::new(h.name, v.name)
                    .unwrap()
                    .scheduler(SchedulerSpec::Portfolio { depth: 3, seed: 1 })
                    .budget(Budget::Executions(20_000))
                    .run();
                rates.push(r.rate());
            }
            println!("  {:<18} {:<16} {:>8.0}", h.name, v.name, median(rates));
        }
    }
}
