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
/// How long an access slice lasts, in steps: less than a step, so that function entries and exits
/// (half a step after the access before them) fall between accesses.
const ACCESS: f64 = 0.4;
/// Where in its access slice a flow starts or ends.
const FLOW_AT: f64 = 0.2;

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
    let mut calls_before = |out: &mut Vec<Value>, step: u64, open: &mut HashMap<u32, Vec<&'static str>>| {
        while let Some(c) = calls.next_if(|c| c.step < step) {
            // Between the access of step `c.step` and the next one.
            let ts = c.step as f64 + 0.5;
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
    for e in &r.events {
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
            "ts": e.step as f64, "dur": ACCESS, "args": args}),
        );
    }
    let end = r.events.last().map_or(0, |e| e.step);
    calls_before(&mut out, u64::MAX, &mut open);
    // Calls cut short by the failure end with the execution, innermost first.
    let mut cut: Vec<(u32, Vec<&str>)> = open.into_iter().collect();
    cut.sort();
    for (cpu, stack) in cut {
        for f in stack.into_iter().rev() {
            out.push(
                json!({"ph": "E", "name": f, "cat": "function", "pid": PID, "tid": cpu,
                "ts": end as f64 + 1.0}),
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
        let (Some(&li), Some(&si)) = (by_step.get(&load), by_step.get(&store)) else {
            continue;
        };
        let (l, s) = (&r.events[li], &r.events[si]);
        if l.cpu == s.cpu && l.stale.is_none() {
            continue;
        }
        id += 1;
        out.push(
            json!({"ph": "s", "id": id, "name": "reads-from", "cat": "reads-from", "pid": PID,
            "tid": s.cpu, "ts": s.step as f64 + FLOW_AT}),
        );
        out.push(
            json!({"ph": "f", "bp": "e", "id": id, "name": "reads-from", "cat": "reads-from",
            "pid": PID, "tid": l.cpu, "ts": l.step as f64 + FLOW_AT}),
        );
    }
    if let Some(f) = &r.failure {
        let tid = r
            .events
            .iter()
            .rev()
            .find(|e| e.step == f.step)
            .map_or(0, |e| e.cpu);
        out.push(
            json!({"ph": "i", "s": "t", "name": f.kind.name(), "cat": "failure", "pid": PID,
            "tid": tid, "ts": f.step as f64 + FLOW_AT, "args": {"message": f.message}}),
        );
    }
    json!({
        "traceEvents": out,
        "displayTimeUnit": "ns",
        "otherData": {
            "harness": trace.harness,
            "variant": trace.variant,
            "memory": trace.memory.name(),
            "time": "one model step a microsecond",
        },
    })
}
