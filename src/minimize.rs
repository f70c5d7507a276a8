//! Minimizing a failing trace: the fewest preemptions, then the fewest steps, that still fail the
//! same way at the same place.
//!
//! A randomized strategy finds a failure with an interleaving full of switches that have nothing
//! to do with it; the reader of the trace has to find the two or three that matter. Minimization
//! edits the trace's decisions and keeps an edit when the execution still fails with the same
//! kind, on the same CPU, in the same kernel functions, at the same source line, and is smaller:
//! fewer preemptions, or as many and fewer steps ([`Size`]'s order). Edits are tried greedily, one
//! or two in a row, until none helps, or [`MAX_RUNS`] executions have run, or [`MAX_TIME`] has
//! passed (long executions, such as a livelock's 20,000 steps, cost more each).
//!
//! A candidate runs under [`Lenient`], which follows its decisions where they fit and otherwise
//! keeps the current CPU running; what is kept is the decisions the execution actually took, so a
//! minimized trace replays exactly, like any other.
//!
//! The edits work on blocks: a CPU decision and the decisions up to the next switch of CPU (read
//! choices included, so that a load keeps its choice when its block moves). For each preemption,
//! latest first: bring the preempted CPU's next block forward to run before the preempting block
//! (the two runs of the preempted CPU become one), move the preempting block after that one or to
//! the end, do not switch there, or let the preempted CPU run for the whole preempting block.
//! Then swap two neighbouring blocks (a switch moved, which can open the way for another edit).
//! Then, for each block, last first: leave it out, or leave out every later block of its CPU (that
//! CPU does the work later, or never, if the failure comes first).

use std::cell::RefCell;
use std::rc::Rc;

use crate::exec::{self, Target};
use crate::failure::{Failure, FailureKind};
use crate::harness::{self, Harness};
use crate::sched::{Decision, Lenient};
use crate::trace::{Size, Trace, Verdict};
use crate::Error;

/// At most this many executions per minimization: each takes a millisecond or so with its events
/// recorded, and the greedy passes converge well before on every trace in `replay/`.
pub const MAX_RUNS: u32 = 4_000;

/// At most this long per minimization; what was found by then is kept.
pub const MAX_TIME: std::time::Duration = std::time::Duration::from_secs(10);

/// A minimized trace and what minimization did.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Minimized {
    /// The minimized trace (the original itself when nothing smaller fails the same way).
    pub trace: Trace,
    /// The size of the trace given.
    pub before: Size,
    /// The size of the minimized trace.
    pub after: Size,
    /// Executions run.
    pub runs: u32,
}

/// What a smaller execution must keep of the failure to replace the trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Keep {
    /// The same kind, CPU, call trace and source line: what [`minimize`] keeps.
    Place,
    /// Only the kind of failure. The result may show another failure of that kind than the one
    /// found; it exists to show that [`Keep::Place`] is what keeps it (`tests/minimize.rs`).
    Kind,
}

impl Place {
    fn kept_by(&self, other: Option<&Place>, keep: Keep) -> bool {
        match (other, keep) {
            (Some(o), Keep::Place) => o == self,
            (Some(o), Keep::Kind) => o.kind == self.kind,
            (None, _) => false,
        }
    }
}

/// Where and how an execution failed: what a smaller execution must still do.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Place {
    kind: FailureKind,
    cpu: String,
    call_trace: Vec<String>,
    /// The harness or kernel source line of the failing step.
    source: String,
}

/// One execution of a candidate: what it took, where it failed, how big it was.
struct Run {
    decisions: Vec<Decision>,
    preemptions: Vec<usize>,
    place: Option<Place>,
    size: Size,
}

fn run(target: Target, candidate: Vec<Decision>) -> Run {
    let lenient = Rc::new(RefCell::new(Lenient::new(candidate)));
    let (decisions, failure, events) = exec::run_recorded(target, lenient.clone());
    let preemptions = lenient.borrow().preemptions().to_vec();
    let place = failure.as_ref().map(|f: &Failure| Place {
        kind: f.kind,
        cpu: f.cpu.clone(),
        call_trace: f.call_trace.clone(),
        source: events
            .iter()
            .rev()
            .find(|e| e.step == f.step)
            .map(|e| e.source.clone())
            .unwrap_or_default(),
    });
    let size = Size {
        preemptions: preemptions.len() as u32,
        steps: failure.as_ref().map_or(u64::MAX, |f| f.step),
        decisions: decisions.len(),
    };
    Run {
        decisions,
        preemptions,
        place,
        size,
    }
}

/// The target a trace ran on, its harness one of `harnesses`.
fn target(harnesses: &'static [Harness], trace: &Trace) -> Result<Target, Error> {
    if trace.litmus.is_some() {
        return Err(Error::Minimize(
            "it is a litmus witness: its outcome is the point, not a failure".into(),
        ));
    }
    let h = harness::find_in(harnesses, &trace.harness)?;
    let v = h.variant(&trace.variant)?;
    Ok(Target {
        harness: h,
        variant: v,
        memory: trace.memory,
    })
}

/// The preemptions, steps and decisions of a failing trace, counted on a run of its decisions.
pub fn size(trace: &Trace) -> Result<Size, Error> {
    Ok(run(target(harness::all(), trace)?, trace.decisions.clone()).size)
}

/// Blocks of `d`: `(start, end)` ranges, each a CPU decision and what follows it up to the next
/// CPU decision that switches to another CPU.
fn blocks(d: &[Decision]) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = Vec::new();
    let mut cpu = None;
    for (i, x) in d.iter().enumerate() {
        if let Decision::Cpu(c) = *x {
            if cpu != Some(c) {
                if let Some(last) = out.last_mut() {
                    last.1 = i;
                }
                out.push((i, d.len()));
                cpu = Some(c);
            }
        }
    }
    out
}

fn cpu_of(d: &[Decision], block: (usize, usize)) -> Option<usize> {
    match d[block.0] {
        Decision::Cpu(c) => Some(c),
        _ => None,
    }
}

/// The edits of `best`, most promising first (see the module docs).
fn candidates(best: &Run) -> Vec<Vec<Decision>> {
    let d = &best.decisions;
    let bl = blocks(d);
    let mut out = Vec::new();
    for &at in best.preemptions.iter().rev() {
        let Some(k) = bl.iter().position(|b| b.0 == at) else {
            continue;
        };
        if k == 0 {
            continue;
        }
        let preempted = cpu_of(d, bl[k - 1]);
        // Its next block, brought forward to run before the preempting one.
        if let Some(j) = (k + 1..bl.len()).find(|&j| cpu_of(d, bl[j]) == preempted) {
            let mut c = Vec::with_capacity(d.len());
            c.extend_from_slice(&d[..bl[k].0]);
            c.extend_from_slice(&d[bl[j].0..bl[j].1]);
            c.extend_from_slice(&d[bl[k].0..bl[j].0]);
            c.extend_from_slice(&d[bl[j].1..]);
            out.push(c);
        }
        let j = (k + 1..bl.len()).find(|&j| cpu_of(d, bl[j]) == preempted);
        // The preempting block moved after that one, or to the end.
        for to in j.into_iter().chain([bl.len() - 1]) {
            if to > k {
                let mut c = Vec::with_capacity(d.len());
                c.extend_from_slice(&d[..bl[k].0]);
                c.extend_from_slice(&d[bl[k].1..bl[to].1]);
                c.extend_from_slice(&d[bl[k].0..bl[k].1]);
                c.extend_from_slice(&d[bl[to].1..]);
                out.push(c);
            }
        }
        if let Some(p) = preempted {
            // No switch here: the preempted CPU goes on, the rest as it was.
            let mut c = d.clone();
            c[at] = Decision::Cpu(p);
            out.push(c);
            // The preempted CPU runs for the whole preempting block instead.
            let mut c = d.clone();
            for x in &mut c[bl[k].0..bl[k].1] {
                if matches!(x, Decision::Cpu(_)) {
                    *x = Decision::Cpu(p);
                }
            }
            out.push(c);
        }
    }
    // Two neighbouring blocks of different CPUs swapped: a switch moved, not removed, which can
    // make the next edit possible.
    for k in (1..bl.len()).rev() {
        let mut c = Vec::with_capacity(d.len());
        c.extend_from_slice(&d[..bl[k - 1].0]);
        c.extend_from_slice(&d[bl[k].0..bl[k].1]);
        c.extend_from_slice(&d[bl[k - 1].0..bl[k - 1].1]);
        c.extend_from_slice(&d[bl[k].1..]);
        out.push(c);
    }
    for (k, &(s, e)) in bl.iter().enumerate().rev() {
        let mut c = Vec::with_capacity(d.len());
        c.extend_from_slice(&d[..s]);
        c.extend_from_slice(&d[e..]);
        out.push(c);
        // That CPU's work from here on, all of it.
        let cpu = cpu_of(d, bl[k]);
        let mut c = d[..s].to_vec();
        for &b in &bl[k..] {
            if cpu_of(d, b) != cpu {
                c.extend_from_slice(&d[b.0..b.1]);
            }
        }
        out.push(c);
    }
    out
}

/// Minimize a failing trace. The result keeps the original's scheduler, seed and execution
/// number, and says how big the execution it was minimized from was ([`Trace::minimized_from`]);
/// a trace already minimal comes back unchanged. A trace without a failure, or whose decisions
/// no longer fail the way it records, is an error.
/// The harness is looked up among the built-in ones; [`minimize_in`] minimizes the trace of a
/// harness of your own.
pub fn minimize(trace: &Trace) -> Result<Minimized, Error> {
    minimize_keeping(trace, Keep::Place)
}

/// [`minimize`], looking the harness up among `harnesses` (a binary's registry, as given to
/// [`cli::main`](crate::cli::main)).
pub fn minimize_in(harnesses: &'static [Harness], trace: &Trace) -> Result<Minimized, Error> {
    minimize_target(target(harnesses, trace)?, trace, Keep::Place)
}

/// [`minimize`], keeping only what `keep` says of the failure.
pub fn minimize_keeping(trace: &Trace, keep: Keep) -> Result<Minimized, Error> {
    minimize_target(target(harness::all(), trace)?, trace, keep)
}

/// Minimize `trace`, which ran on `target`.
pub(crate) fn minimize_target(target: Target, trace: &Trace, keep: Keep) -> Result<Minimized, Error> {
    let bad = Error::Minimize;
    let Some(recorded) = &trace.failure else {
        return Err(bad("it records no failure: there is nothing to minimize".into()));
    };
    let mut best = run(target, trace.decisions.clone());
    let mut runs = 1;
    let Some(place) = best.place.clone() else {
        return Err(bad(format!(
            "its decisions no longer fail (it records {} at step {}): replay it to see where it \
             diverges",
            recorded.kind, recorded.step
        )));
    };
    if place.kind != recorded.kind || best.size.steps != recorded.step {
        return Err(bad(format!(
            "its decisions fail with {} at step {}, not with the {} at step {} it records: replay \
             it to see where it diverges",
            place.kind, best.size.steps, recorded.kind, recorded.step
        )));
    }
    let before = best.size;
    let start = std::time::Instant::now();
    // Greedy: the first edit that makes the execution smaller is kept, and the edits of the new
    // one are tried. When no single edit helps, two in a row: an edit that fails the same way
    // without being smaller (a preemption moved, not removed) can open the way for another.
    'passes: loop {
        let mut sideways = Vec::new();
        for c in candidates(&best) {
            if runs >= MAX_RUNS || start.elapsed() > MAX_TIME {
                break 'passes;
            }
            runs += 1;
            let r = run(target, c);
            if !place.kept_by(r.place.as_ref(), keep) {
                continue;
            }
            if r.size < best.size {
                best = r;
                continue 'passes;
            }
            if r.size.preemptions <= best.size.preemptions + 1 {
                sideways.push(r);
            }
        }
        sideways.sort_by_key(|r| r.size);
        for first in &sideways {
            for c in candidates(first) {
                if runs >= MAX_RUNS || start.elapsed() > MAX_TIME {
                    break 'passes;
                }
                runs += 1;
                let r = run(target, c);
                if place.kept_by(r.place.as_ref(), keep) && r.size < best.size {
                    best = r;
                    continue 'passes;
                }
            }
        }
        break;
    }
    if best.size == before {
        return Ok(Minimized {
            trace: trace.clone(),
            before,
            after: before,
            runs,
        });
    }
    let mut out = Trace::record(target, trace.scheduler, trace.execution, best.decisions);
    out.minimized_from = Some(trace.minimized_from.unwrap_or(before));
    out.fuzz_input = trace.fuzz_input.clone();
    // The decisions are the ones the execution took, so they replay exactly; checked all the same,
    // since a trace that does not replay would be worse than the raw one.
    let replayed = exec::replay(target, out.decisions.clone());
    if out.verdict(&replayed) != Verdict::Reproduced {
        return Err(bad(
            "its minimized execution does not replay (a bug in kgrace): keep the raw trace".into(),
        ));
    }
    Ok(Minimized {
        trace: out,
        before,
        after: best.size,
        runs,
    })
}
