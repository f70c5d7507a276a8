//! An execution as a timeline: a Chrome trace-event JSON file, which the Perfetto UI
//! (<https://ui.perfetto.dev>) and `chrome://tracing` open (`kgrace replay TRACE --perfetto OUT`).
//!
//! What it shows, one model step a microsecond:
//! * one track per CPU, named by its label (`CPU1 hmm_notifier_release`), in CPU order;
//! * a slice per kernel function call, nested as the calls were (`mutex_unlock` over
//!   `__mutex_unlock_slowpath` over `spin_lock`), from the step after it was entered to the
//!   step after it returned; a call the failure cut short ends with the execution;
//! * a short slice per access (its operation and location as the name; value read, value written,
//!   step and source line as arguments), inside the call that made it;
//! * a flow arrow from a store to each load on another CPU that read it, and to every load that
//!   read an older store than the newest (`lkmm`), so that who saw whose write can be followed;
//! * an instant marker on the failing CPU at the failing step, with the report as its argument.
//!
//! Accesses are slices rather than instant events because the JSON importer binds a flow's ends
//! to the slice enclosing them: an access in harness code, outside any kernel function, would
//! otherwise lose its arrow.

use std::collections::HashMap;

use serde_json::{json, Value};

use crate::exec::ReplayResult;
use crate::trace::Trace;

/// The process all tracks belong to.
const PID: u32 = 1;
/// The part of a step its accesses take (one, or a few that share the step, such as the end of a
/// stack object at a return): less than a step, so that function entries and exits (half a step
/// after the access before them) fall between accesses.
const ACCESS: f64 = 0.4;

/// The timeline of `r`, a replay of `trace` (its events and [`crate::trace::Timeline`]), as a
/// Chrome trace-event JSON object (`{"traceEvents": [...]}`).
pub fn timeline(trace: &Trace, r: &ReplayResult) -> Value {
    let mut out: Vec<Value> = Vec::new();
    out.push(json!({"ph": "M", "name": "process_name", "pid": PID,
        "args": {"name": format!("{} [{}] ({})", trace.harness, trace.variant, trace.memory)}}));
    let mut cpus: Vec<(u32, &str)> = Vec::new();
    for e in &r.events {
        if !cpus.iter().any(|(c, _)| *c == e.cpu) {
            cpus.push((e.cpu, &e.cpu_name));
        }
    }
    for c in &r.timeline.calls {
        if !cpus.iter().any(|(x, _)| *x == c.cpu) {
            cpus.push((c.cpu, ""));
        }
    }
    cpus.sort();
    for &(cpu, name) in &cpus {
        let name = if name.is_empty() {
            format!("CPU{cpu}")
        } else {
            name.to_string()
        };
        out.push(json!({"ph": "M", "name": "thread_name", "pid": PID, "tid": cpu,
            "args": {"name": name}}));
        out.push(
            json!({"ph": "M", "name": "thread_sort_index", "pid": PID, "tid": cpu,
            "args": {"sort_index": cpu}}),
        );
    }
    // Per CPU, the calls open at this point of the walk.
    let mut open: HashMap<u32, Vec<&'static str>> = HashMap::new();
    let mut calls = r.timeline.calls.iter().peekable();
    // Calls after the same step get timestamps a nanosecond apart, in their order: the importer
    // sorts by time, and a return and the next call must not trade places.
    let mut same_step = (u64::MAX, 0u32);
    let mut calls_before = |out: &mut Vec<Value>, step: u64, open: &mut HashMap<u32, Vec<&'static str>>| {
        while let Some(c) = calls.next_if(|c| c.step < step) {
            // Between the access of step `c.step` and the next one.
            same_step = if same_step.0 == c.step {
                (c.step, same_step.1 + 1)
            } else {
                (c.step, 0)
            };
            let ts = c.step as f64 + 0.5 + f64::from(same_step.1.min(399)) * 1e-3;
            let stack = open.entry(c.cpu).or_default();
            let (ph, f) = match c.entered {
                Some(f) => {
                    stack.push(f);
                    ("B", f)
                }
                None => match stack.pop() {
                    Some(f) => ("E", f),
                    None => continue,
                },
            };
            out.push(
                json!({"ph": ph, "name": f, "cat": "function", "pid": PID, "tid": c.cpu,
                "ts": ts}),
            );
        }
    };
    // Each access's slice: its start and length. Accesses that share a step share its time one
    // after the other.
    let mut per_step: HashMap<u64, u32> = HashMap::new();
    for e in &r.events {
        *per_step.entry(e.step).or_default() += 1;
    }
    let mut seen: HashMap<u64, u32> = HashMap::new();
    let slots: Vec<(f64, f64)> = r
        .events
        .iter()
        .map(|e| {
            let j = seen.entry(e.step).or_default();
            let len = ACCESS / f64::from(per_step[&e.step]);
            let at = e.step as f64 + f64::from(*j) * len;
            *j += 1;
            (at, len * 0.9)
        })
        .collect();
    // Where a flow or marker sits: inside the access slice.
    let mid = |i: usize| slots[i].0 + slots[i].1 / 2.0;
    for (i, e) in r.events.iter().enumerate() {
        calls_before(&mut out, e.step, &mut open);
        let name = if e.location.is_empty() {
            e.op.clone()
        } else {
            format!("{} {}", e.op, e.location)
        };
        let mut args = json!({"step": e.step, "op": e.op, "source": e.source});
        if !e.location.is_empty() {
            args["location"] = json!(e.location);
        }
        if let Some(v) = e.read {
            args["read"] = json!(v);
        }
        if let Some(v) = e.wrote {
            args["wrote"] = json!(v);
        }
        if let Some(s) = &e.stale {
            args["stale"] = json!({"read_from_step": s.read_from_step, "newest_step": s.newest_step,
                "newest_value": s.newest_value});
        }
        out.push(
            json!({"ph": "X", "name": name, "cat": "access", "pid": PID, "tid": e.cpu,
            "ts": slots[i].0, "dur": slots[i].1, "args": args}),
        );
    }
    let end = r.events.last().map_or(0, |e| e.step);
    calls_before(&mut out, u64::MAX, &mut open);
    // Calls cut short by the failure end with the execution, innermost first.
    let mut cut: Vec<(u32, Vec<&str>)> = open.into_iter().collect();
    cut.sort();
    for (cpu, stack) in cut {
        for (i, f) in stack.into_iter().rev().enumerate() {
            out.push(
                json!({"ph": "E", "name": f, "cat": "function", "pid": PID, "tid": cpu,
                "ts": end as f64 + 1.0 + i as f64 * 1e-3}),
            );
        }
    }
    // Flow arrows: a load reading another CPU's store, or an older store than the newest.
    let by_step: HashMap<u64, usize> = r
        .events
        .iter()
        .enumerate()
        .rev()
        .map(|(i, e)| (e.step, i))
        .collect();
    let mut id = 0u64;
    for &(load, store) in &r.timeline.reads_from {
        // Of the events of a step (an access, and the end of a stack object at a return), the
        // load is the one that read, the store the one that wrote or made the object.
        let pick = |step: u64, want: fn(&crate::trace::Event) -> bool| {
            let first = *by_step.get(&step)?;
            let mut same = r.events[first..].iter().take_while(|e| e.step == step);
            Some(same.position(want).map_or(first, |k| first + k))
        };
        let (Some(li), Some(si)) = (
            pick(load, |e| e.read.is_some()),
            pick(store, |e| e.wrote.is_some() || e.read.is_none()),
        ) else {
            continue;
        };
        let (l, s) = (&r.events[li], &r.events[si]);
        if l.cpu == s.cpu && l.stale.is_none() {
            continue;
        }
        id += 1;
        out.push(
            json!({"ph": "s", "id": id, "name": "reads-from", "cat": "reads-from", "pid": PID,
            "tid": s.cpu, "ts": mid(si)}),
        );
        out.push(
            json!({"ph": "f", "bp": "e", "id": id, "name": "reads-from", "cat": "reads-from",
            "pid": PID, "tid": l.cpu, "ts": mid(li)}),
        );
    }
    if let Some(f) = &r.failure {
        let at = r.events.iter().rposition(|e| e.step == f.step);
        let tid = at.map_or(0, |i| r.events[i].cpu);
        let ts = at.map_or(f.step as f64, mid);
        out.push(
            json!({"ph": "i", "s": "t", "name": f.kind.name(), "cat": "failure", "pid": PID,
            "tid": tid, "ts": ts, "args": {"message": f.message}}),
        );
    }
    json!({
        "traceEvents": out,
        "otherData": {
            "harness": trace.harness,
            "variant": trace.variant,
            "memory": trace.memory.name(),
            "time": "one model step a microsecond",
        },
    })
}
