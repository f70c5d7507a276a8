//! What the measuring examples (`arm_rates`, `tune_schedule`) share: reading their numeric
//! arguments, and running one measurement per item on every core.

use std::sync::atomic::{AtomicUsize, Ordering};

/// `f` of every item of `work`, on every core, in `work`'s order: each exploration is
/// single-threaded and deterministic, so the results do not depend on the number of threads.
/// `done` is called with the number of the item just finished (from 1), for progress.
pub fn parallel<W: Sync, T: Send>(
    work: &[W],
    f: impl Fn(&W) -> T + Sync,
    done: impl Fn(usize) + Sync,
) -> Vec<T> {
    let next = AtomicUsize::new(0);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut out: Vec<(usize, T)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut out = vec![];
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(item) = work.get(i) else {
                            return out;
                        };
                        out.push((i, f(item)));
                        done(i + 1);
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a measuring thread panicked"))
            .collect()
    });
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, t)| t).collect()
}

/// A positive whole-number argument named `name`, `default` if absent; a bad one ends the
/// example with `usage` and exit code 2.
pub fn number(arg: Option<String>, default: u64, name: &str, usage: &str) -> u64 {
    match arg {
        None => default,
        Some(a) => match a.parse::<u64>() {
            Ok(n) if n > 0 => n,
            _ => fail(
                &format!("{name} must be a positive whole number, not {a:?}"),
                usage,
            ),
        },
    }
}

/// End the example: what went wrong, how to call it, exit code 2.
pub fn fail(problem: &str, usage: &str) -> ! {
    eprintln!("{problem}\nusage: {usage}");
    std::process::exit(2);
}
