//! JSON traces: what a failing execution did, decision by decision, and how to replay it.
//!
//! Exploration records only the scheduling decisions, a few bytes per step. The events of a trace
//! (who accessed what, with which value, from which source line) come from replaying those
//! decisions once with recording on: executions are deterministic, so the replay is the failing
//! execution.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::MemoryModel;
use crate::exec::{self, Target};
use crate::failure::Failure;
use crate::harness;
use crate::sched::{Decision, SchedulerSpec};
use crate::Error;

pub use crate::engine::{Event, StaleRead};
pub use crate::exec::ReplayResult;

/// The `format` field of every trace.
pub const FORMAT: &str = "kgrace-trace";
/// The trace format version this kgrace writes. Version 2 added the memory model and read
/// decisions; version 1 traces (sequentially consistent, CPU decisions only) still replay.
pub const VERSION: u32 = 2;
/// The oldest trace format version this kgrace reads.
pub const OLDEST_VERSION: u32 = 1;
/// The shuttle version kgrace was built with (from `Cargo.lock`).
pub const SHUTTLE_VERSION: &str = env!("KGRACE_SHUTTLE_VERSION");

/// A replayable record of one execution.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trace {
    /// Always [`FORMAT`].
    pub format: String,
    /// The format version, [`VERSION`].
    pub version: u32,
    /// The kgrace that wrote it.
    pub kgrace_version: String,
    /// The shuttle it ran on.
    pub shuttle_version: String,
    /// Harness name.
    pub harness: String,
    /// Variant name.
    pub variant: String,
    /// The strategy and seed that found it.
    pub scheduler: SchedulerSpec,
    /// The memory model it ran under (`sc` for version 1 traces, which predate the choice).
    #[serde(default)]
    pub memory: MemoryModel,
    /// Which execution of the run it was (1-based).
    pub execution: u64,
    /// Every scheduling decision, in order.
    pub decisions: Vec<Decision>,
    /// Every modeled operation, in order.
    pub events: Vec<Event>,
    /// How it failed; `None` for a clean execution.
    pub failure: Option<Failure>,
}

/// The verdict of replaying a trace against what it recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The recorded failure happened again, same kind, same step.
    Reproduced,
    /// The execution finished cleanly.
    Clean,
    /// The execution no longer follows the trace.
    Diverged(String),
}

impl Trace {
    /// Read a trace, checking its format and version before anything else.
    pub fn load(path: &Path) -> Result<Trace, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::TraceRead {
            path: path.to_path_buf(),
            source: e,
        })?;
        Trace::parse(&text).map_err(|reason| Error::BadTrace {
            path: path.to_path_buf(),
            reason,
        })
    }

    /// Parse a trace from its JSON text; the error says what is wrong with it.
    pub fn parse(text: &str) -> Result<Trace, String> {
        let v: serde_json::Value = serde_json::from_str(text).map_err(|e| {
            if e.is_eof() {
                format!("the file ends too early (truncated?): {e}")
            } else {
                format!("not valid JSON: {e}")
            }
        })?;
        match v.get("format").and_then(|f| f.as_str()) {
            Some(FORMAT) => {}
            Some(other) => return Err(format!("format is {other:?}, not {FORMAT:?}")),
            None => return Err(format!("no \"format\": {FORMAT:?} field: not a kgrace trace")),
        }
        match v.get("version").and_then(|f| f.as_u64()) {
            Some(x) if (u64::from(OLDEST_VERSION)..=u64::from(VERSION)).contains(&x) => {}
            Some(x) => {
                return Err(format!(
                    "trace format version {x}; this kgrace reads versions {OLDEST_VERSION} to {VERSION} (re-record it with this kgrace)"
                ))
            }
            None => return Err("no numeric \"version\" field".into()),
        }
        serde_json::from_value(v).map_err(|e| format!("malformed trace: {e}"))
    }

    /// Write the trace to a new file in `dir`, never over an existing one: the name is
    /// `<harness>-<variant>-<n>.json` with the first free `n`. Returns the path.
    pub fn save_new(&self, dir: &Path) -> Result<PathBuf, Error> {
        std::fs::create_dir_all(dir).map_err(|e| Error::TraceWrite {
            path: dir.to_path_buf(),
            source: e,
        })?;
        let json = serde_json::to_string_pretty(self).expect("a trace always serializes");
        for n in 1.. {
            let path = dir.join(format!("{}-{}-{n}.json", self.harness, self.variant));
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut f) => {
                    use std::io::Write;
                    f.write_all(json.as_bytes())
                        .and_then(|_| f.write_all(b"\n"))
                        .map_err(|e| Error::TraceWrite {
                            path: path.clone(),
                            source: e,
                        })?;
                    return Ok(path);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(Error::TraceWrite { path, source: e }),
            }
        }
        unreachable!()
    }

    /// The trace of one execution of `target` under `decisions`: its events and failure come
    /// from replaying them once with recording on.
    pub(crate) fn record(
        target: Target,
        scheduler: SchedulerSpec,
        execution: u64,
        decisions: Vec<Decision>,
    ) -> Trace {
        let r = exec::replay(target, decisions.clone());
        Trace {
            format: FORMAT.into(),
            version: VERSION,
            kgrace_version: env!("CARGO_PKG_VERSION").into(),
            shuttle_version: SHUTTLE_VERSION.into(),
            harness: target.harness.name.into(),
            variant: target.variant.name.into(),
            scheduler,
            memory: target.memory(),
            execution,
            decisions,
            events: r.events,
            failure: r.failure,
        }
    }

    /// Re-run the trace's decisions on its harness and variant, under its memory model.
    pub fn replay(&self) -> Result<ReplayResult, Error> {
        let h = harness::find(&self.harness)?;
        let v = h.variant(&self.variant)?;
        let target = Target {
            harness: h,
            variant: v,
            memory: self.memory,
        };
        Ok(exec::replay(target, self.decisions.clone()))
    }

    /// Compare a replay with what the trace recorded.
    pub fn verdict(&self, r: &ReplayResult) -> Verdict {
        if let Some(d) = &r.divergence {
            return Verdict::Diverged(format!("at decision {}: {}", d.decision, d.reason));
        }
        match (&self.failure, &r.failure) {
            (Some(want), Some(got)) if want.kind == got.kind && want.step == got.step => Verdict::Reproduced,
            (Some(want), Some(got)) => Verdict::Diverged(format!(
                "the trace fails with {} at step {}, the replay with {} at step {}",
                want.kind, want.step, got.kind, got.step
            )),
            (Some(want), None) => Verdict::Diverged(format!(
                "the trace fails with {} at step {}, the replay finishes cleanly",
                want.kind, want.step
            )),
            (None, Some(got)) => Verdict::Diverged(format!(
                "the trace is clean, the replay fails with {} at step {}",
                got.kind, got.step
            )),
            (None, None) => Verdict::Clean,
        }
    }

    /// The execution as per-CPU columns, like the diagrams in the threads, ending with the
    /// failure.
    pub fn render(&self, events: &[Event], failure: Option<&Failure>) -> String {
        render_columns(&self.harness, &self.variant, events, failure)
    }
}

const COL: usize = 52;

fn cell(s: &str) -> String {
    let mut out: String = s.chars().take(COL - 1).collect();
    while out.chars().count() < COL {
        out.push(' ');
    }
    out
}

fn render_columns(harness: &str, variant: &str, events: &[Event], failure: Option<&Failure>) -> String {
    let mut cpus: Vec<(u32, String)> = Vec::new();
    for e in events {
        if !cpus.iter().any(|(c, _)| *c == e.cpu) {
            cpus.push((e.cpu, e.cpu_name.clone()));
        }
    }
    cpus.sort();
    let col_of = |cpu: u32| cpus.iter().position(|(c, _)| *c == cpu).unwrap_or(0);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{harness} [{variant}]: {} steps",
        events.last().map(|e| e.step).unwrap_or(0)
    );
    let mut header = format!("{:>5}  ", "step");
    for (_, name) in &cpus {
        header.push_str(&cell(name));
    }
    let _ = writeln!(out, "{}", header.trim_end());
    let _ = writeln!(out, "{}", "-".repeat(7 + COL * cpus.len()));
    let mut last_func: Vec<String> = vec![String::new(); cpus.len()];
    for e in events {
        let col = col_of(e.cpu);
        if e.func != last_func[col] {
            if !e.func.is_empty() {
                let mut line = format!("{:>5}  ", "");
                line.push_str(&" ".repeat(COL * col));
                line.push_str(&format!("[{}]", e.func));
                let _ = writeln!(out, "{}", line.trim_end());
            }
            last_func[col] = e.func.clone();
        }
        let mut text = e.op.clone();
        if !e.location.is_empty() {
            let _ = write!(text, " {}", e.location);
        }
        match (e.read, e.wrote) {
            (Some(r), Some(w)) => {
                let _ = write!(text, " {}->{}", show(r), show(w));
            }
            (Some(r), None) => {
                let _ = write!(text, " ={}", show(r));
            }
            (None, Some(w)) => {
                let _ = write!(text, " :={}", show(w));
            }
            (None, None) => {}
        }
        let mut line = format!("{:>5}  ", e.step);
        line.push_str(&" ".repeat(COL * col));
        line.push_str(&cell(&text));
        let _ = writeln!(out, "{}", line.trim_end());
        if let Some(st) = &e.stale {
            // Which store the load read, and the newer one it missed (lkmm).
            let from = if st.read_from_step == 0 {
                "initial value".to_string()
            } else {
                format!("store of step {}", st.read_from_step)
            };
            let mut line = format!("{:>5}  ", "");
            line.push_str(&" ".repeat(COL * col));
            line.push_str(&cell(&format!("  stale: read the {from}")));
            let _ = writeln!(out, "{}", line.trim_end());
            let mut line = format!("{:>5}  ", "");
            line.push_str(&" ".repeat(COL * col));
            line.push_str(&cell(&format!(
                "  missed {} stored at step {}",
                show(st.newest_value),
                st.newest_step
            )));
            let _ = writeln!(out, "{}", line.trim_end());
        }
    }
    if let Some(f) = failure {
        let _ = writeln!(out, "\n{}", f.message);
    } else {
        let _ = writeln!(out, "\nno failure: the execution finished cleanly");
    }
    out
}

/// Small values as signed integers, addresses in hex.
fn show(v: u64) -> String {
    let s = v as i64;
    if (-4096..=4096).contains(&s) {
        s.to_string()
    } else {
        format!("{v:#x}")
    }
}
