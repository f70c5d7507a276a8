//! JSON traces: what a failing execution did, decision by decision, and how to replay it.
//!
//! Exploration records only the scheduling decisions, a few bytes per step. The events of a trace
//! (who accessed what, with which value, from which source line) come from replaying those
//! decisions once with recording on: executions are deterministic, so the replay is the failing
//! execution.

use std::fmt::Write as _;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Unexpected, Visitor};
use serde::{Deserialize, Serialize};

use crate::config::MemoryModel;
use crate::exec::{self, Target};
use crate::failure::Failure;
use crate::harness;
use crate::sched::{Decision, SchedulerSpec};
use crate::Error;

pub use crate::engine::{Call, Event, StaleRead, Timeline};
pub use crate::exec::ReplayResult;

/// The `format` field of every trace.
pub(crate) const FORMAT: &str = "kgrace-trace";
/// The trace format version this kgrace writes. Version 2 added the memory model and read
/// decisions; version 1 traces (sequentially consistent, CPU decisions only) still replay.
pub(crate) const VERSION: u32 = 2;
/// The oldest trace format version this kgrace reads.
pub(crate) const OLDEST_VERSION: u32 = 1;
/// The shuttle version kgrace was built with (from `Cargo.lock`).
pub(crate) const SHUTTLE_VERSION: &str = env!("KGRACE_SHUTTLE_VERSION");

/// A replayable record of one execution.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trace {
    /// Always `"kgrace-trace"`.
    pub format: String,
    /// The format version: 2 (version 1 traces, which predate the memory model and read
    /// decisions, still replay).
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
    #[serde(deserialize_with = "decisions")]
    pub decisions: Vec<Decision>,
    /// Every modeled operation, in order.
    pub events: Vec<Event>,
    /// How it failed; `None` for a clean execution.
    pub failure: Option<Failure>,
    /// For a witness of `kgrace litmus` (harness `litmus`): the test itself, so that the trace
    /// replays without the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub litmus: Option<LitmusWitness>,
    /// For a minimized trace ([`crate::minimize`]): the size of the raw execution it was
    /// minimized from, the one `scheduler` and `execution` name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimized_from: Option<Size>,
    /// For the trace of a fuzzer's input: the input's bytes in hex, as the fuzz target reads
    /// them ([`crate::fuzz::FuzzInput`]). Written to a file, they reproduce the execution as
    /// found (`kgrace replay --harness H FILE`); the decisions, its minimized form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fuzz_input: Option<String>,
}

/// How big a failing execution is, in the terms minimization reduces: preemptions first, then
/// steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Size {
    /// Switches away from a CPU that could have gone on and was not spinning.
    pub preemptions: u32,
    /// Model steps up to and including the failing one.
    pub steps: u64,
    /// Scheduling decisions (CPU choices and read choices).
    pub decisions: usize,
}

impl std::fmt::Display for Size {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} preemptions, {} steps, {} decisions",
            self.preemptions, self.steps, self.decisions
        )
    }
}

/// The litmus test a witness trace ran: its source and the reordering of its variant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LitmusWitness {
    /// The test's text.
    pub source: String,
    /// Stores moved earlier in the variant that reached the outcome
    /// ([`crate::litmus::reorder`]).
    #[serde(default)]
    pub moves: Vec<crate::litmus::reorder::Move>,
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

/// The largest trace file kgrace reads: 32 MiB. An execution stops at 20,000 steps, and the trace
/// of even that longest one is under 8 MiB; a bigger file is not a trace kgrace wrote, and is
/// refused before it is parsed (reading it whole would let one file take any amount of memory).
pub const MAX_TRACE_BYTES: u64 = 32 << 20;

/// Where [`Trace::save_new`] or [`Trace::save_once`] put a trace.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Saved {
    /// The file.
    pub path: PathBuf,
    /// The file was already there (the same execution, or for [`Trace::save_once`] the same
    /// failure), and was left as it was.
    pub existed: bool,
}

impl Saved {
    pub(crate) fn existing(path: PathBuf) -> Saved {
        Saved { path, existed: true }
    }
}

impl Trace {
    /// Read a trace, checking its format and version before anything else. A file over
    /// [`MAX_TRACE_BYTES`] is refused unread.
    pub fn load(path: &Path) -> Result<Trace, Error> {
        let file = std::fs::File::open(path).map_err(|e| Error::TraceRead {
            path: path.to_path_buf(),
            source: e,
        })?;
        Trace::read_from(path, file)
    }

    /// Read a trace from `reader` (`path` names it in errors): at most [`MAX_TRACE_BYTES`] are
    /// read, and a longer input is refused.
    pub fn read_from(path: &Path, reader: impl Read) -> Result<Trace, Error> {
        let mut data = Vec::new();
        reader
            .take(MAX_TRACE_BYTES + 1)
            .read_to_end(&mut data)
            .map_err(|e| Error::TraceRead {
                path: path.to_path_buf(),
                source: e,
            })?;
        if data.len() as u64 > MAX_TRACE_BYTES {
            return Err(Error::BadTrace {
                path: path.to_path_buf(),
                reason: format!(
                    "the file is larger than {} MiB, the most kgrace reads (its own traces are under \
                     8 MiB)",
                    MAX_TRACE_BYTES >> 20
                ),
            });
        }
        Trace::from_slice(&data).map_err(|reason| Error::BadTrace {
            path: path.to_path_buf(),
            reason,
        })
    }

    /// Parse a trace from its JSON text; the error says what is wrong with it.
    pub fn parse(text: &str) -> Result<Trace, String> {
        Trace::from_slice(text.as_bytes())
    }

    /// Parse a trace from the bytes of a file; the error says what is wrong with it. The format
    /// and version are checked first (a pass that skips every other field without building it),
    /// then the JSON is parsed straight into the trace.
    pub fn from_slice(data: &[u8]) -> Result<Trace, String> {
        if data.iter().all(u8::is_ascii_whitespace) {
            return Err("the file is empty".into());
        }
        let header: Header = serde_json::from_slice(data).map_err(|e| {
            if e.is_eof() {
                format!("the file ends too early (truncated?): {e}")
            } else if e.is_data() {
                format!("not a kgrace trace: {e}")
            } else {
                format!("not valid JSON: {e}")
            }
        })?;
        if data.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err("not a kgrace trace: a trace is a JSON object, and this is other JSON".into());
        }
        match header.format {
            Some(Scalar::Str(f)) if f == FORMAT => {}
            Some(Scalar::Str(other)) => return Err(format!("format is {other:?}, not {FORMAT:?}")),
            Some(_) => {
                return Err(format!(
                    "\"format\" is not the string {FORMAT:?}: not a kgrace trace"
                ))
            }
            None => return Err(format!("no \"format\": {FORMAT:?} field: not a kgrace trace")),
        }
        match header.version {
            Some(Scalar::Num(x)) if (u64::from(OLDEST_VERSION)..=u64::from(VERSION)).contains(&x) => {}
            Some(Scalar::Num(x)) => {
                return Err(format!(
                    "trace format version {x}; this kgrace reads versions {OLDEST_VERSION} to {VERSION} \
                     (re-record it with this kgrace)"
                ))
            }
            _ => return Err("no numeric \"version\" field".into()),
        }
        serde_json::from_slice(data).map_err(|e| format!("malformed trace: {e}"))
    }

    /// The name [`save_new`](Trace::save_new) gives the trace: `<harness>-<variant>-<hash>.json`,
    /// where the hash (16 hex digits) is of what makes the execution: the harness, the variant,
    /// the memory model and the decisions. Like libFuzzer's `crash-<sha1>`, the name needs no look
    /// at the directory, and the same execution always gets the same name.
    pub fn file_name(&self) -> String {
        let mut h = Fnv::new();
        h.write(self.harness.as_bytes());
        h.write(&[0]);
        h.write(self.variant.as_bytes());
        h.write(&[0]);
        h.write(self.memory.name().as_bytes());
        for d in &self.decisions {
            let (tag, n) = match *d {
                Decision::Cpu(c) => (0, c as u64),
                Decision::Read { read } => (1, u64::from(read)),
                Decision::Value { value } => (2, value),
            };
            h.write(&[tag]);
            h.write(&n.to_le_bytes());
        }
        format!("{}-{}-{:016x}.json", self.harness, self.variant, h.finish())
    }

    /// Write the trace to `dir` (created if missing) as [`file_name`](Trace::file_name), never
    /// over an existing file, in one attempt whatever the directory holds. When a trace of the
    /// same execution is already there it is left as it is and its path returned
    /// ([`Saved::existed`]); any other file by that name is an error.
    pub fn save_new(&self, dir: &Path) -> Result<Saved, Error> {
        let path = dir.join(self.file_name());
        let saved = self.write_new(dir, path)?;
        if saved.existed {
            let same = Trace::load(&saved.path).is_ok_and(|t| {
                (&t.harness, &t.variant, t.memory, &t.decisions)
                    == (&self.harness, &self.variant, self.memory, &self.decisions)
            });
            if !same {
                return Err(Error::TraceWrite {
                    path: saved.path,
                    source: std::io::Error::new(
                        std::io::ErrorKind::AlreadyExists,
                        "a different file by this name is already there, and is left as it is; \
                         move it away, or pick another directory",
                    ),
                });
            }
        }
        Ok(saved)
    }

    /// Write the trace to `dir/name` unless a file by that name exists, which is left as it is
    /// ([`Saved::existed`]). The fuzzer names traces by failure signature with it, to keep one
    /// trace per distinct failure.
    pub fn save_once(&self, dir: &Path, name: &str) -> Result<Saved, Error> {
        self.write_new(dir, dir.join(name))
    }

    fn write_new(&self, dir: &Path, path: PathBuf) -> Result<Saved, Error> {
        use std::io::Write;
        std::fs::create_dir_all(dir).map_err(|e| Error::TraceWrite {
            path: dir.to_path_buf(),
            source: if dir.exists() && !dir.is_dir() {
                std::io::Error::new(e.kind(), "it is a file, not a directory")
            } else {
                e
            },
        })?;
        let mut f = match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Ok(Saved { path, existed: true })
            }
            Err(e) => return Err(Error::TraceWrite { path, source: e }),
        };
        let mut json = serde_json::to_vec_pretty(self).expect("a trace always serializes");
        json.push(b'\n');
        if let Err(e) = f.write_all(&json) {
            // Half a trace is worse than none: the next save would take it for this one.
            drop(f);
            let _ = std::fs::remove_file(&path);
            return Err(Error::TraceWrite { path, source: e });
        }
        Ok(Saved { path, existed: false })
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
            litmus: None,
            minimized_from: None,
            fuzz_input: None,
        }
    }

    /// A witness of `kgrace litmus`: the execution of `name` (with `moves` made) under
    /// `decisions`, by exhaustive search under `memory`.
    pub fn litmus_witness(
        name: &str,
        source: &str,
        memory: MemoryModel,
        moves: Vec<crate::litmus::reorder::Move>,
        decisions: Vec<Decision>,
    ) -> Result<Trace, Error> {
        let p = crate::litmus::load(source).map_err(|e| Error::BadTrace {
            path: PathBuf::from(name),
            reason: format!("its litmus test does not load: {e}"),
        })?;
        let (r, _) = crate::litmus::run::replay_witness(&p, memory, &moves, decisions.clone());
        Ok(Trace {
            format: FORMAT.into(),
            version: VERSION,
            kgrace_version: env!("CARGO_PKG_VERSION").into(),
            shuttle_version: SHUTTLE_VERSION.into(),
            harness: "litmus".into(),
            variant: name.into(),
            scheduler: SchedulerSpec::Dfs { preemptions: None },
            memory,
            execution: 0,
            decisions,
            events: r.events,
            failure: r.failure,
            litmus: Some(LitmusWitness {
                source: source.into(),
                moves,
            }),
            minimized_from: None,
            fuzz_input: None,
        })
    }

    /// The raw fuzzer input the trace was made from ([`Trace::fuzz_input`]), if it was; `None`
    /// also for a field that is not hex.
    pub fn fuzz_input_bytes(&self) -> Option<Vec<u8>> {
        let h = self.fuzz_input.as_deref()?.as_bytes();
        if h.len() % 2 != 0 {
            return None;
        }
        h.chunks(2)
            .map(|c| u8::from_str_radix(std::str::from_utf8(c).ok()?, 16).ok())
            .collect()
    }

    /// Re-run the trace's decisions on its harness and variant, under its memory model. The
    /// harness is looked up among the built-in ones; [`replay_in`](Trace::replay_in) replays the
    /// trace of a harness of your own.
    pub fn replay(&self) -> Result<ReplayResult, Error> {
        self.replay_in(harness::all())
    }

    /// [`replay`](Trace::replay), looking the harness up among `harnesses` (a binary's registry,
    /// as given to [`cli::main`](crate::cli::main)).
    pub fn replay_in(&self, harnesses: &'static [harness::Harness]) -> Result<ReplayResult, Error> {
        if let Some(l) = &self.litmus {
            let p = crate::litmus::load(&l.source).map_err(|e| Error::BadTrace {
                path: PathBuf::from(&self.variant),
                reason: format!("its litmus test does not load: {e}"),
            })?;
            let (r, _) =
                crate::litmus::run::replay_witness(&p, self.memory, &l.moves, self.decisions.clone());
            return Ok(r);
        }
        let h = harness::find_in(harnesses, &self.harness)?;
        let v = h.variant(&self.variant)?;
        let target = Target {
            harness: h,
            variant: v,
            memory: self.memory,
        };
        Ok(exec::replay(target, self.decisions.clone()))
    }

    /// Compare a replay with what the trace recorded. A divergence says, in one sentence or two,
    /// where the run left the trace and how.
    pub fn verdict(&self, r: &ReplayResult) -> Verdict {
        let after = match r.events.last() {
            Some(e) => format!("after step {}", e.step),
            None => "before its first step".to_string(),
        };
        let n = self.decisions.len();
        if let Some(d) = &r.divergence {
            return Verdict::Diverged(format!(
                "the run left the trace at decision {} of {n} (counting from 0), {after}: {}",
                d.decision, d.reason
            ));
        }
        match (&self.failure, &r.failure) {
            (Some(want), Some(got)) if want.kind == got.kind && want.step == got.step => {
                if r.unused > 0 {
                    Verdict::Diverged(format!(
                        "the recorded {} happened again at step {}, but the trace has {} more \
                         decisions after it (decisions {} to {} of {n}), which the run never used: \
                         a trace kgrace writes ends at its failure, so this one was edited or \
                         comes from another kgrace",
                        want.kind,
                        want.step,
                        r.unused,
                        n - r.unused,
                        n - 1
                    ))
                } else {
                    Verdict::Reproduced
                }
            }
            (Some(want), Some(got)) => Verdict::Diverged(format!(
                "the trace fails with {} at step {}, but the run failed with {} at step {}",
                want.kind, want.step, got.kind, got.step
            )),
            (Some(want), None) => Verdict::Diverged(format!(
                "the trace fails with {} at step {}, but the run finished without failure {after}",
                want.kind, want.step
            )),
            (None, Some(got)) => Verdict::Diverged(format!(
                "the trace records an execution that finishes cleanly, but the run failed with {} \
                 at step {}",
                got.kind, got.step
            )),
            (None, None) => Verdict::Clean,
        }
    }

    /// The execution as per-CPU columns, like the diagrams in the threads, ending with the
    /// failure (or a line saying there was none).
    pub fn render(&self, events: &[Event], failure: Option<&Failure>) -> String {
        let mut out = self.render_events(events);
        match failure {
            Some(f) => {
                let _ = writeln!(out, "\n{}", f.message);
            }
            None => {
                let _ = writeln!(out, "\nno failure: the execution finished cleanly");
            }
        }
        out
    }

    /// The execution as per-CPU columns, without the ending.
    pub fn render_events(&self, events: &[Event]) -> String {
        render_columns(&self.harness, &self.variant, events)
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

fn render_columns(harness: &str, variant: &str, events: &[Event]) -> String {
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
    out
}

/// `bytes` as lowercase hex, two digits a byte.
pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(2 * bytes.len());
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
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

/// The fields [`Trace::from_slice`] checks before parsing the rest: read in a pass that skips every
/// other field without building it.
#[derive(Deserialize)]
#[serde(expecting = "a JSON object")]
struct Header {
    #[serde(default, deserialize_with = "scalar")]
    format: Option<Scalar>,
    #[serde(default, deserialize_with = "scalar")]
    version: Option<Scalar>,
}

/// A header field: a string, a number, or something else (skipped, not built).
enum Scalar {
    Str(String),
    Num(u64),
    Other,
}

fn scalar<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Scalar>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Scalar;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("any JSON value")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
            Ok(Scalar::Str(v.to_string()))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
            Ok(Scalar::Num(v))
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Scalar, E> {
            Ok(Scalar::Other)
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Scalar, E> {
            Ok(Scalar::Other)
        }
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Scalar, E> {
            Ok(Scalar::Other)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Scalar, E> {
            Ok(Scalar::Other)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Scalar, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(Scalar::Other)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scalar, A::Error> {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok(Scalar::Other)
        }
    }
    d.deserialize_any(V).map(Some)
}

/// The decisions of a trace, each checked as it is read: a bad one is named by its index.
fn decisions<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Decision>, D::Error> {
    struct List;
    impl<'de> Visitor<'de> for List {
        type Value = Vec<Decision>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a list of decisions")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Decision>, A::Error> {
            let mut v = Vec::new();
            while let Some(d) = seq.next_element_seed(Entry(v.len()))? {
                v.push(d);
            }
            Ok(v)
        }
    }
    d.deserialize_seq(List)
}

/// Decision number `.0` (from 0): a CPU number, `{"read": N}` or `{"value": N}`.
#[derive(Clone, Copy)]
struct Entry(usize);

impl<'de> DeserializeSeed<'de> for Entry {
    type Value = Decision;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Decision, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Entry {
    type Value = Decision;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "decision {} (counting from 0) to be a CPU number, {{\"read\": N}} or {{\"value\": N}}",
            self.0
        )
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Decision, E> {
        usize::try_from(v)
            .map(Decision::Cpu)
            .map_err(|_| E::invalid_value(Unexpected::Unsigned(v), &self))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Decision, E> {
        match u64::try_from(v) {
            Ok(v) => self.visit_u64(v),
            Err(_) => Err(E::invalid_value(Unexpected::Signed(v), &self)),
        }
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Decision, A::Error> {
        let key: Option<String> = map.next_key()?;
        let d = match key.as_deref() {
            Some("read") => Decision::Read {
                read: map.next_value_seed(Number(self.0, "read", u64::from(u32::MAX)))? as u32,
            },
            Some("value") => Decision::Value {
                value: map.next_value_seed(Number(self.0, "value", u64::MAX))?,
            },
            Some(k) => {
                return Err(de::Error::custom(format_args!(
                    "decision {} has a field `{k}`; expected `read` or `value`",
                    self.0
                )))
            }
            None => return Err(de::Error::invalid_length(0, &self)),
        };
        if let Some(k) = map.next_key::<String>()? {
            return Err(de::Error::custom(format_args!(
                "decision {} has a second field `{k}`; a decision has one, `read` or `value`",
                self.0
            )));
        }
        Ok(d)
    }
}

/// The number in field `.1` of decision `.0`, at most `.2`.
struct Number(usize, &'static str, u64);

impl<'de> DeserializeSeed<'de> for Number {
    type Value = u64;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<u64, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Number {
    type Value = u64;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the `{}` of decision {} (counting from 0) to be a number from 0 to {}",
            self.1, self.0, self.2
        )
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
        if v <= self.2 {
            Ok(v)
        } else {
            Err(E::invalid_value(Unexpected::Unsigned(v), &self))
        }
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
        match u64::try_from(v) {
            Ok(v) => self.visit_u64(v),
            Err(_) => Err(E::invalid_value(Unexpected::Signed(v), &self)),
        }
    }
}

/// 64-bit FNV-1a: a hash that is the same in every build and on every machine, for file names.
struct Fnv(u64);

impl Fnv {
    fn new() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// The hash the fuzzer names a failure's trace by (see [`crate::fuzz`]): of its kind and call
/// trace, 8 hex digits.
pub(crate) fn site_hash(f: &Failure) -> String {
    let mut h = Fnv::new();
    h.write(f.kind.name().as_bytes());
    for func in &f.call_trace {
        h.write(&[0]);
        h.write(func.as_bytes());
    }
    format!("{:08x}", h.finish() as u32)
}
