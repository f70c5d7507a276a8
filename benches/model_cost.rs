//! `cargo bench`: executions/s of every passing harness variant, and the per-step cost of the kgrace model
//! against the same steps written directly on shuttle's own atomics, measured side by side in one
//! run (rounds alternate, so machine noise hits both alike; the median ratio is reported).

use std::time::Instant;

use kgrace::kernel::*;
use kgrace::sched::SchedulerSpec;
use kgrace::{Budget, Explorer, MemoryModel};

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

/// Loads and stores, where `lkmm` has read choices to offer: two CPUs, each `INCS` times a
/// `WRITE_ONCE` of its own word and a `READ_ONCE` of the other's.
fn loads_body() {
    let c: Counter = kzalloc();
    let d: Counter = kzalloc();
    let a = spawn_cpu("a", move || {
        (0..INCS / 2).for_each(|i| {
            write_once(c.v(), i as i64);
            let _ = read_once(d.v());
        })
    });
    let b = spawn_cpu("b", move || {
        (0..INCS / 2).for_each(|i| {
            write_once(d.v(), i as i64);
            let _ = read_once(c.v());
        })
    });
    a.join();
    b.join();
    kfree(c);
    kfree(d);
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
    time_body(model_body, MemoryModel::Sc)
}

fn time_body(body: fn(), memory: MemoryModel) -> f64 {
    let r = Explorer::from_fn("step-cost", body)
        .memory(memory)
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

/// Executions/s of every passing variant under two settings of its explorer, 20,000 executions
/// each, in alternating rounds (median of 3): side by side in one run, as a noisy machine wants.
fn passing_rates(
    a: impl Fn(Explorer) -> Explorer,
    b: impl Fn(Explorer) -> Explorer,
) -> Vec<(&'static str, &'static str, f64, f64)> {
    let mut out = vec![];
    for h in kgrace::harness::all() {
        for v in h
            .variants
            .iter()
            .filter(|v| v.expected == kgrace::harness::Expected::Passes)
        {
            let mut rates = [vec![], vec![]];
            for _ in 0..3 {
                for (i, set) in [&a as &dyn Fn(Explorer) -> Explorer, &b].into_iter().enumerate() {
                    let e = Explorer::new(h.name, v.name)
                        .unwrap()
                        .budget(Budget::Executions(20_000));
                    rates[i].push(set(e).run().rate());
                }
            }
            let [ra, rb] = rates;
            out.push((h.name, v.name, median(ra), median(rb)));
        }
    }
    out
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
    // `MODEL_COST=steps cargo bench --bench model_cost`: the per-step comparison alone (seconds,
    // not minutes), to repeat it.
    if std::env::var("MODEL_COST").as_deref() == Ok("steps") {
        return;
    }

    // The same programs under lkmm, alternating with sc.
    for (name, body) in [
        ("atomic_inc", model_body as fn()),
        ("READ_ONCE/WRITE_ONCE", loads_body),
    ] {
        let mut ratio = vec![];
        for _ in 0..ROUNDS {
            let sc = time_body(body, MemoryModel::Sc);
            let lk = time_body(body, MemoryModel::Lkmm);
            ratio.push(lk / sc);
        }
        println!(
            "  ratio lkmm/sc on the {name} program:{:>pad$.2}x",
            median(ratio),
            pad = 26usize.saturating_sub(name.len()) + 7
        );
    }

    // Exhaustive search: executions/s of dfs on the READ_ONCE/WRITE_ONCE program (2 preemptions).
    for memory in MemoryModel::ALL {
        let r = Explorer::from_fn("dfs", loads_body)
            .memory(memory)
            .scheduler(SchedulerSpec::Dfs { preemptions: Some(2) })
            .budget(Budget::Executions(20_000))
            .run();
        println!(
            "  dfs under {memory:<4}: {:>8.0} executions/s ({} executions{})",
            r.rate(),
            r.executions,
            if r.exhausted { ", space exhausted" } else { "" }
        );
    }

    // Every passing variant runs its full budget, so its rate is the cost of an execution.
    println!("executions/s of each passing variant (portfolio, seed 1, 20,000 executions, median of 3), sc and lkmm:");
    let portfolio = SchedulerSpec::Portfolio { depth: 3, seed: 1 };
    for (h, v, sc, lk) in passing_rates(
        |e| e.scheduler(portfolio).memory(MemoryModel::Sc),
        |e| e.scheduler(portfolio).memory(MemoryModel::Lkmm),
    ) {
        println!(
            "  {h:<18} {v:<18} sc {sc:>8.0}   lkmm {lk:>8.0}   lkmm/sc {:.2}",
            lk / sc
        );
    }

    // The default strategy's feedback (reads-from pairs counted on every load) against the
    // previous default, which pays nothing for it: executions/s on every passing variant, sc.
    println!("executions/s of each passing variant, guided (default) against portfolio (seed 1, 20,000 executions, median of 3, sc):");
    let mut ratios = vec![];
    for (h, v, g, p) in passing_rates(
        |e| e.scheduler(SchedulerSpec::Guided { depth: 3, seed: 1 }),
        |e| e.scheduler(portfolio),
    ) {
        ratios.push(g / p);
        println!(
            "  {h:<18} {v:<18} guided {g:>8.0}   portfolio {p:>8.0}   guided/portfolio {:.2}",
            g / p
        );
    }
    println!(
        "  geometric mean guided/portfolio {:.2}",
        (ratios.iter().map(|r| r.ln()).sum::<f64>() / ratios.len() as f64).exp()
    );
}
