//! Running a litmus test on kgrace's engine: the [`Machine`] that translates each event of a
//! process into the kernel model a harness uses (the same [`Word`] accesses, fences, spinlocks,
//! RCU and SRCU), explored exhaustively by the [`Dfs`] strategy under a memory model.
//!
//! Every execution allocates the test's shared locations on CPU0, initializes them, runs each
//! process `Pn` as CPU `n + 1`, joins them, and reads the final value of every location (its
//! newest store: the coherence-final one). herd7 counts the distinct final states over the
//! locations the test observes; so does [`run`]. An execution that deadlocks (a process waiting
//! for a lock it holds, a grace period inside its own reader) has no final state, as in herd7.
//! A data race does not end the execution: it is LKMM's `Flag data-race` on the result.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::panic::Location;
use std::sync::Arc;

use super::ast::InitValue;
use super::check::{LocKind, Program};
use super::cond::{FinalState, MissingLocation, Observation, Outcome};
use super::interp::{load_bit, FenceKind, LoadKind, Machine, Registers, RmwOp, RmwOrder, StoreKind};
use crate::config::{Config, MemoryModel};
use crate::engine::{self, runtime, Kind, LoadDep, ObjKind};
use crate::failure::{Failure, FailureKind};
use crate::kernel::{
    arch_spin_lock_load, arch_spin_lock_store, barrier, init_srcu_struct, rcu_assign_pointer,
    rcu_dereference, rcu_read_lock, rcu_read_unlock, read_once, smp_load_acquire, smp_mb,
    smp_mb__after_atomic, smp_mb__before_atomic, smp_rmb, smp_store_release, smp_wmb, spawn_cpu,
    spin_is_locked, spin_lock, spin_trylock, spin_unlock, srcu_read_lock, srcu_read_unlock, synchronize_rcu,
    synchronize_srcu, write_once, Embed, Field, Layout, Ptr, Spinlock, SrcuFlavor, SrcuStruct, Word,
};
use crate::sched::{CpuId, Decision, Dfs, NextStep, Strategy};

/// How to run a test.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// The memory model.
    pub memory: MemoryModel,
    /// At most this many executions, over all the variants of a test; a test whose space is
    /// larger gets no verdict.
    pub max_executions: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            memory: MemoryModel::Lkmm,
            max_executions: 1_200_000,
        }
    }
}

/// What the exploration of one test found.
#[derive(Clone, Debug)]
pub struct Report {
    /// The test's name (after `C` on its first line), which herd7 prints.
    pub name: String,
    /// herd7's judgement over the distinct final states seen.
    pub outcome: Outcome,
    /// The distinct final states over the observed locations, with how many executions ended in
    /// each, in order.
    pub states: Vec<(FinalState, u64)>,
    /// Executions run.
    pub executions: u64,
    /// Every execution was explored: the outcome is a verdict. Otherwise the bound was hit and
    /// the outcome covers only what was seen (see [`Report::settled`]).
    pub exhausted: bool,
    /// The bound was hit, yet the verdict is final: the outcome is `Sometimes` (a state that
    /// satisfies the proposition and one that does not were both seen, and more executions only
    /// add states), and the race flag cannot change (a race was seen, or the test makes no plain
    /// access, without which LKMM flags none).
    pub settled: bool,
    /// Executions without a final state (deadlocked).
    pub deadlocked: u64,
    /// Some execution had a data race (LKMM's `Flag data-race`).
    pub data_race: bool,
    /// The first failure of another kind (a NULL dereference, a livelock), if any: the test
    /// reached something the engine treats as a bug; its execution has no final state.
    pub other_failure: Option<Failure>,
    /// The decisions of an execution whose final state satisfies the final proposition (after
    /// the filter).
    pub witness: Option<Vec<Decision>>,
    /// The stores the witness's variant of the test moved earlier ([`super::reorder`]); empty
    /// when it is the test as written.
    pub witness_moves: Vec<super::reorder::Move>,
}

impl Report {
    /// The outcome and the race flag are herd7's verdict: every execution was explored, or
    /// what was seen already decides them ([`Report::settled`]).
    pub fn is_verdict(&self) -> bool {
        self.exhausted || self.settled
    }
}

/// Why a test could not be run.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RunError {
    /// The test uses something the engine does not model.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// A final clause names a location no final state has.
    #[error(transparent)]
    Missing(#[from] MissingLocation),
}

/// Names of the CPUs of processes `P0..`: spawned CPUs take `&'static str` names.
const PROC_NAMES: [&str; 7] = ["P0", "P1", "P2", "P3", "P4", "P5", "P6"];

/// The layouts of the test's shared locations, made once per test (the engine names objects by
/// `&'static` layouts; a test leaks one small layout per location).
struct Setup {
    program: Program,
    vars: Vec<(LocKind, &'static Layout)>,
}

impl Setup {
    fn new(program: Program) -> Arc<Setup> {
        let vars = program
            .shared
            .iter()
            .map(|v| (v.kind, leak_layout(&v.name, v.kind)))
            .collect();
        Arc::new(Setup { program, vars })
    }
}

fn leak_layout(name: &str, kind: LocKind) -> &'static Layout {
    let name: &'static str = Box::leak(name.to_string().into_boxed_str());
    let slots: &'static [&'static str] = match kind {
        LocKind::Spinlock => Spinlock::SLOTS,
        _ => &[""],
    };
    let fields: &'static [Field] = Box::leak(Box::new([Field::new("", slots)]));
    Box::leak(Box::new(Layout::new(name, fields)))
}

/// The shared locations of one execution, in [`Program::shared`] order: address, and the
/// SRCU domain of a `struct srcu_struct`.
type Addrs = Arc<Vec<(u64, Option<SrcuStruct>)>>;

/// What the processes of the running execution report back (the engine runs every CPU of an
/// execution on this OS thread).
#[derive(Default)]
struct Collect {
    /// Per process, its final register values ([`super::Proc::regs`] order).
    regs: Vec<Vec<u64>>,
    /// The addresses of the shared locations (the same in every execution).
    addrs: Vec<u64>,
    unsupported: Option<String>,
    /// Distinct final states as raw words (every register of every process, then every shared
    /// location), with what is known of each ([`Seen`]). Names and the projection come at the
    /// end, once per distinct state.
    keys: HashMap<Vec<u64>, Seen>,
    data_race: bool,
    /// The running execution failed a guarded reordering's guard ([`Machine::discard`]).
    discarded: bool,
    /// The execution that just ended satisfied the proposition: keep its decisions.
    positive: bool,
    /// CPUs that have been scheduled in this execution (bit per CPU; CPU0 from the start).
    started: u32,
    /// Executions that ended in a failure (and so have no final state).
    failures: Failures,
    /// The decisions of the first execution that satisfied the proposition.
    witness: Option<Vec<Decision>>,
}

thread_local! {
    static COLLECT: RefCell<Collect> = RefCell::new(Collect::default());
}

/// The name of the shared location at `raw`, if it is one's address.
fn name_of(p: &Program, addrs: &[u64], raw: u64) -> Option<String> {
    if raw == 0 {
        return None;
    }
    addrs
        .iter()
        .position(|&a| a == raw)
        .and_then(|k| p.shared.get(k))
        .map(|v| v.name.clone())
}

/// The final state a raw key stands for, over the locations the test observes.
fn state_of(p: &Program, key: &[u64], addrs: &[u64]) -> FinalState {
    let mut at = 0;
    let regs: Vec<Registers> = p
        .procs
        .iter()
        .map(|proc| {
            let n = proc.regs.len();
            let vals = key.get(at..at + n).unwrap_or(&[]);
            at += n;
            proc.regs.iter().cloned().zip(vals.iter().copied()).collect()
        })
        .collect();
    let vars = key.get(at..).unwrap_or(&[]);
    p.final_state(
        &regs,
        |var| {
            p.shared
                .iter()
                .position(|v| v.name == var)
                .and_then(|k| vars.get(k).copied())
                .unwrap_or(0)
        },
        |raw| name_of(p, addrs, raw),
    )
    .project(&p.observed_locations())
}

/// One execution: CPU0 sets up memory and runs the processes.
fn execute(setup: &Arc<Setup>, memory: MemoryModel) {
    engine::reset(Config::DEFAULT, memory);
    engine::note_races_only();
    engine::explicit_dependencies();
    let p = &setup.program;
    let caller = Location::caller();
    let mut addrs = Vec::with_capacity(p.shared.len());
    for (kind, layout) in &setup.vars {
        addrs.push(match kind {
            LocKind::Srcu => {
                let ssp = init_srcu_struct(SrcuFlavor::Guarantee);
                (ssp.ptr().0, Some(ssp))
            }
            _ => (engine::alloc(layout, ObjKind::Static, "DEFINE", caller).0, None),
        });
    }
    let addr_of = |name: &str| {
        p.shared
            .iter()
            .position(|v| v.name == name)
            .map_or(0, |k| addrs[k].0)
    };
    // Initial values, once every location has its address.
    for (k, v) in p.shared.iter().enumerate() {
        let value = match &v.init {
            InitValue::Int(0) => continue,
            InitValue::Int(i) => *i as u64,
            InitValue::AddrOf(x) => addr_of(x),
        };
        <Word<u64> as Embed>::at(Ptr(addrs[k].0)).store(value);
    }
    let addrs: Addrs = Arc::new(addrs);
    COLLECT.with(|c| {
        let mut c = c.borrow_mut();
        c.regs.resize(p.procs.len(), Vec::new());
        if c.addrs.is_empty() {
            c.addrs = addrs.iter().map(|a| a.0).collect();
        }
        c.positive = false;
        c.discarded = false;
        c.started = 1;
    });
    let mut cpus = Vec::with_capacity(p.procs.len());
    for (i, name) in PROC_NAMES.iter().copied().enumerate().take(p.procs.len()) {
        let setup = setup.clone();
        let addrs = addrs.clone();
        cpus.push(spawn_cpu(name, move || {
            COLLECT.with(|c| c.borrow_mut().started |= 1 << (i + 1));
            let mut m = KernelMachine {
                setup: setup.clone(),
                addrs,
                last: Last::Other,
                locked: false,
                loads: Vec::new(),
            };
            let regs = setup.program.procs[i].run_values(&mut m);
            COLLECT.with(|c| c.borrow_mut().regs[i] = regs);
        }));
    }
    for c in cpus {
        c.join();
    }
    if engine::failed() || !engine::bounded_plain_seen() || COLLECT.with(|c| c.borrow().discarded) {
        return;
    }
    let race = engine::races_noted();
    COLLECT.with(|c| {
        let mut c = c.borrow_mut();
        let mut key: Vec<u64> = Vec::with_capacity(16);
        for r in &c.regs {
            key.extend_from_slice(r);
        }
        key.extend(addrs.iter().map(|a| engine::final_value(a.0).unwrap_or(0)));
        let c = &mut *c;
        let entry = c.keys.entry(key).or_insert_with_key(|key| {
            let state = state_of(p, key, &c.addrs);
            let judged = p.judge(std::slice::from_ref(&state));
            Seen {
                executions: 0,
                positive: judged.as_ref().is_ok_and(|o| o.positive > 0),
                kept: judged.is_ok_and(|o| o.filtered == 0),
            }
        });
        entry.executions += 1;
        c.positive = entry.positive;
        // herd7 discards an execution the filter rejects, with its flags.
        c.data_race |= race && entry.kept;
    });
}

/// One distinct final state of [`Collect::keys`].
#[derive(Debug)]
struct Seen {
    /// Executions that ended in it.
    executions: u64,
    /// It satisfies the proposition.
    positive: bool,
    /// The filter keeps it.
    kept: bool,
}

/// The [`Machine`] of one process: each event is the kernel model's operation.
struct KernelMachine {
    setup: Arc<Setup>,
    addrs: Addrs,
    /// The process's previous event, for the fences that strengthen it.
    last: Last,
    /// It has taken a lock: `smp_mb__after_spinlock()` (and `smp_mb__after_unlock_lock()`) is a
    /// full barrier from then on.
    locked: bool,
    /// What each of its loads and RMWs read, in order ([`Machine::data_dependent`]'s bits).
    loads: Vec<LoadDep>,
}

/// What the previous event of a process was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Last {
    SrcuReadUnlock,
    Other,
}

fn word(addr: u64) -> Word<u64> {
    <Word<u64> as Embed>::at(Ptr(addr))
}

impl KernelMachine {
    fn srcu(&self, addr: u64) -> Option<SrcuStruct> {
        self.addrs.iter().find(|a| a.0 == addr).and_then(|a| a.1)
    }

    fn unsupported(&self, what: &str) {
        COLLECT.with(|c| {
            c.borrow_mut().unsupported.get_or_insert_with(|| what.to_string());
        });
    }
}

impl Machine for KernelMachine {
    fn discard(&mut self) {
        COLLECT.with(|c| c.borrow_mut().discarded = true);
    }

    fn address_dependent(&mut self, dep: bool) {
        engine::next_access_dependent(dep);
    }

    fn hoist(&mut self, addr: Option<u64>) {
        engine::hoist(addr);
    }

    fn bound_plain(&mut self, addr: u64, value: u64) {
        engine::bound_plain(addr, value);
    }

    fn hide_next_store(&mut self) {
        engine::next_store_hidden();
    }

    fn addr_of(&mut self, var: &str) -> u64 {
        let shared = &self.setup.program.shared;
        shared
            .iter()
            .position(|v| v.name == var)
            .map_or(0, |k| self.addrs[k].0)
    }

    fn data_dependent(&mut self, loads: u64) {
        if loads == 0 {
            return;
        }
        let mut data = LoadDep::default();
        for (i, l) in self.loads.iter().enumerate() {
            if loads & load_bit(i) != 0 {
                data.join(l);
            }
        }
        engine::next_store_data(data);
    }

    fn load(&mut self, addr: u64, kind: LoadKind) -> u64 {
        self.last = Last::Other;
        let w = word(addr);
        let v = match kind {
            LoadKind::Plain => w.load(),
            LoadKind::Once => read_once(w),
            LoadKind::Acquire => smp_load_acquire(w),
            // The address dependency it heads is the engine's: accesses through the loaded
            // pointer are ordered after it.
            LoadKind::RcuDeref => rcu_dereference(w),
        };
        self.loads.push(engine::last_load());
        v
    }

    fn store(&mut self, addr: u64, kind: StoreKind, value: u64) {
        self.last = Last::Other;
        let w = word(addr);
        match kind {
            StoreKind::Plain => w.store(value),
            StoreKind::Once => write_once(w, value),
            StoreKind::Release => smp_store_release(w, value),
            StoreKind::RcuAssign => rcu_assign_pointer(w, value),
        }
    }

    fn rmw(&mut self, addr: u64, op: RmwOp, order: RmwOrder) -> u64 {
        self.last = Last::Other;
        // The kernel's atomics are this same engine call with a fixed operation; a failed
        // conditional RMW is a marked read, ordered by nothing (the engine's rule).
        let kind = match order {
            RmwOrder::Mb => Kind::RmwFull,
            RmwOrder::Relaxed | RmwOrder::NoReturn => Kind::RmwRelaxed,
            RmwOrder::Acquire => Kind::RmwAcquire,
            RmwOrder::Release => Kind::RmwRelease,
        };
        let old = engine::access(addr, kind, "atomic", true, Location::caller(), |old| {
            (old, op.apply(old))
        });
        self.loads.push(engine::last_load());
        old
    }

    fn fence(&mut self, kind: FenceKind) {
        let last = std::mem::replace(&mut self.last, Last::Other);
        match kind {
            FenceKind::Mb => smp_mb(),
            FenceKind::Rmb => smp_rmb(),
            FenceKind::Wmb => smp_wmb(),
            FenceKind::Barrier => barrier(),
            FenceKind::BeforeAtomic => smp_mb__before_atomic(),
            FenceKind::AfterAtomic => smp_mb__after_atomic(),
            // Each strengthens an operation before it into a full barrier, and alone orders
            // nothing (LKMM): the kernel defines them so because that operation's own barrier
            // (or an arch's lock) already does the rest. LKMM's `[M] ; po? ; [LKW] ;
            // fencerel(After-spinlock) ; [M]` reaches back to any lock the CPU took, whatever
            // lies between (a full barrier is that and more); `smp_mb__after_unlock_lock()`
            // needs an unlock before that lock too, so a full barrier after any lock is
            // stronger than LKMM there, never weaker.
            FenceKind::AfterSpinlock | FenceKind::AfterUnlockLock if self.locked => smp_mb(),
            FenceKind::AfterSrcuReadUnlock if last == Last::SrcuReadUnlock => smp_mb(),
            FenceKind::AfterSpinlock | FenceKind::AfterUnlockLock | FenceKind::AfterSrcuReadUnlock => {
                barrier()
            }
        }
    }

    fn spin_lock(&mut self, lock: u64) {
        self.last = Last::Other;
        self.locked = true;
        spin_lock(Spinlock::at(Ptr(lock)))
    }

    fn spin_unlock(&mut self, lock: u64) {
        self.last = Last::Other;
        spin_unlock(Spinlock::at(Ptr(lock)))
    }

    fn spin_lock_load(&mut self, lock: u64) {
        self.last = Last::Other;
        arch_spin_lock_load(Spinlock::at(Ptr(lock)))
    }

    fn spin_lock_store(&mut self, lock: u64) {
        // The lock is taken when its store is made: an `smp_mb__after_spinlock()` after it
        // orders the store and what precedes it before what follows the fence.
        self.last = Last::Other;
        self.locked = true;
        arch_spin_lock_store(Spinlock::at(Ptr(lock)))
    }

    fn spin_trylock(&mut self, lock: u64) -> bool {
        let taken = spin_trylock(Spinlock::at(Ptr(lock)));
        self.last = Last::Other;
        self.locked |= taken;
        taken
    }

    fn spin_is_locked(&mut self, lock: u64) -> bool {
        self.last = Last::Other;
        spin_is_locked(Spinlock::at(Ptr(lock)))
    }

    fn rcu_read_lock(&mut self) {
        self.last = Last::Other;
        rcu_read_lock()
    }

    fn rcu_read_unlock(&mut self) {
        self.last = Last::Other;
        rcu_read_unlock()
    }

    fn synchronize_rcu(&mut self) {
        self.last = Last::Other;
        synchronize_rcu()
    }

    fn srcu_read_lock(&mut self, srcu: u64) -> u64 {
        self.last = Last::Other;
        match self.srcu(srcu) {
            Some(ssp) => srcu_read_lock(ssp) as u64,
            None => {
                self.unsupported("srcu_read_lock on a location that is not a struct srcu_struct");
                0
            }
        }
    }

    fn srcu_read_unlock(&mut self, srcu: u64, idx: u64) {
        self.last = Last::SrcuReadUnlock;
        if let Some(ssp) = self.srcu(srcu) {
            srcu_read_unlock(ssp, idx as usize)
        }
    }

    fn synchronize_srcu(&mut self, srcu: u64) {
        self.last = Last::Other;
        match self.srcu(srcu) {
            Some(ssp) => synchronize_srcu(ssp),
            None => self.unsupported("synchronize_srcu on a location that is not a struct srcu_struct"),
        }
    }

    fn srcu_down_read(&mut self, srcu: u64) -> u64 {
        // The model's SRCU sections belong to the CPU that entered them.
        self.unsupported("srcu_down_read/srcu_up_read (a section ended by another process)");
        self.srcu_read_lock(srcu)
    }

    fn srcu_up_read(&mut self, srcu: u64, idx: u64) {
        self.srcu_read_unlock(srcu, idx)
    }
}

/// [`Dfs`], keeping the decisions of the execution in progress so that a witness can be kept,
/// and offering it only one of the CPUs that have not run yet: each begins with a scheduling
/// point before its first access, so starting one and switching at that point to another is the
/// same as starting the other.
/// It also counts the failure of the execution that just ended, if any: the engine keeps it
/// until the next one begins.
struct Witnessing {
    dfs: Dfs,
    current: Vec<Decision>,
    options: Vec<CpuId>,
}

impl Strategy for Witnessing {
    fn new_execution(&mut self) -> bool {
        let unsupported = COLLECT.with(|c| {
            let mut c = c.borrow_mut();
            c.failures.note(engine::take_failure());
            if c.witness.is_none() && c.positive {
                c.witness = Some(self.current.clone());
            }
            c.positive = false;
            c.unsupported.is_some()
        });
        self.current.clear();
        // A test found to use what the engine does not model is not explored further.
        !unsupported && self.dfs.new_execution()
    }

    fn next_cpu(&mut self, runnable: &[CpuId], current: Option<CpuId>, next: NextStep) -> Option<CpuId> {
        let started = COLLECT.with(|c| c.borrow().started);
        self.options.clear();
        let mut fresh = false;
        for &c in runnable {
            if started & (1 << c) != 0 {
                self.options.push(c);
            } else if !fresh {
                fresh = true;
                self.options.push(c);
            }
        }
        let c = self.dfs.next_cpu(&self.options, current, next)?;
        self.current.push(Decision::Cpu(c));
        Some(c)
    }

    fn next_read(&mut self, choices: usize) -> usize {
        let k = self.dfs.next_read(choices).min(choices - 1);
        self.current.push(Decision::Read { read: k as u32 });
        k
    }
}

/// Checks that the engine can run `p`: at most [`PROC_NAMES`] processes.
fn supported(p: &Program) -> Result<(), RunError> {
    if p.procs.len() > PROC_NAMES.len() {
        return Err(RunError::Unsupported(format!(
            "{} processes (the engine runs at most {})",
            p.procs.len(),
            PROC_NAMES.len()
        )));
    }
    Ok(())
}

/// Most reordered variants of one test (see [`super::reorder`]).
const MAX_VARIANTS: usize = 64;

/// Explores every execution of `p` (up to `opts.max_executions` in all) and judges the final
/// states. Under `lkmm` the variants with a store moved earlier where LKMM allows it run too
/// ([`super::reorder`]), and their final states count with the others.
pub fn run(p: &Program, opts: Options) -> Result<Report, RunError> {
    supported(p)?;
    let (programs, complete) = match opts.memory {
        MemoryModel::Lkmm => super::reorder::variants(p, MAX_VARIANTS),
        MemoryModel::Sc => (vec![(p.clone(), Vec::new())], true),
    };
    let mut states: BTreeMap<FinalState, u64> = BTreeMap::new();
    let mut report = Report {
        name: p.test.name.clone(),
        outcome: p.judge(&[]).map_err(RunError::Missing)?,
        states: Vec::new(),
        executions: 0,
        exhausted: complete,
        settled: false,
        deadlocked: 0,
        data_race: false,
        other_failure: None,
        witness: None,
        witness_moves: Vec::new(),
    };
    for (q, moves) in programs {
        // One budget for the whole test, variants included.
        let left = opts.max_executions.saturating_sub(report.executions);
        if left == 0 {
            report.exhausted = false;
            break;
        }
        let part = run_one(
            &q,
            Options {
                max_executions: left,
                ..opts
            },
        )?;
        for (s, n) in part.states {
            *states.entry(s).or_default() += n;
        }
        report.executions += part.executions;
        report.exhausted &= part.exhausted;
        report.deadlocked += part.deadlocked;
        // The race detector judges the order the variant ran in, which keeps every ordering
        // LKMM gives the test but one ([`super::reorder::Move::hides_a_bound`]).
        if !moves.iter().any(|m| m.hides_a_bound(p)) {
            report.data_race |= part.data_race;
        }
        if report.other_failure.is_none() {
            report.other_failure = part.other_failure;
        }
        if report.witness.is_none() && part.witness.is_some() {
            report.witness = part.witness;
            report.witness_moves = moves;
        }
    }
    let distinct: Vec<FinalState> = states.keys().cloned().collect();
    report.outcome = p.judge(&distinct)?;
    report.states = states.into_iter().collect();
    report.settled = !report.exhausted
        && report.outcome.observation == Observation::Sometimes
        && (report.data_race || !p.plain_accesses());
    Ok(report)
}

/// What exploring one program found.
struct Part {
    states: BTreeMap<FinalState, u64>,
    executions: u64,
    exhausted: bool,
    deadlocked: u64,
    data_race: bool,
    other_failure: Option<Failure>,
    witness: Option<Vec<Decision>>,
}

fn run_one(p: &Program, opts: Options) -> Result<Part, RunError> {
    let setup = Setup::new(p.clone());
    COLLECT.with(|c| *c.borrow_mut() = Collect::default());
    let strategy = Witnessing {
        dfs: Dfs::new(None),
        current: Vec::with_capacity(256),
        options: Vec::with_capacity(8),
    };
    let (adapter, outcome) = runtime::Adapter::new(strategy, Some(opts.max_executions), None, None);
    let memory = opts.memory;
    runtime::run(adapter.keep_going(), move || execute(&setup, memory));
    let outcome = std::mem::take(&mut *outcome.borrow_mut());
    let mut collect = COLLECT.with(|c| std::mem::take(&mut *c.borrow_mut()));
    // The last execution's failure: no execution followed to count it.
    collect.failures.note(engine::take_failure());
    if let Some(what) = collect.unsupported {
        return Err(RunError::Unsupported(what));
    }
    let mut states: BTreeMap<FinalState, u64> = BTreeMap::new();
    for (key, seen) in &collect.keys {
        *states.entry(state_of(p, key, &collect.addrs)).or_default() += seen.executions;
    }
    Ok(Part {
        states,
        executions: outcome.executions,
        exhausted: outcome.exhausted,
        deadlocked: collect.failures.deadlocks,
        data_race: collect.data_race,
        other_failure: collect.failures.first_other,
        witness: collect.witness,
    })
}

/// Executions that ended in a failure, which have no final state.
#[derive(Debug, Default)]
struct Failures {
    deadlocks: u64,
    first_other: Option<Failure>,
}

impl Failures {
    fn note(&mut self, f: Option<Failure>) {
        match f {
            Some(f) if f.kind == FailureKind::Deadlock => self.deadlocks += 1,
            Some(f) => {
                self.first_other.get_or_insert(f);
            }
            None => {}
        }
    }
}

/// One execution of `p` (with `moves` made) under recorded `decisions`, with its events: how a
/// witness reaches its outcome. The final state of that execution is returned with it (`None`
/// when the execution did not finish).
pub fn replay_witness(
    p: &Program,
    memory: MemoryModel,
    moves: &[super::reorder::Move],
    decisions: Vec<Decision>,
) -> (crate::exec::ReplayResult, Option<FinalState>) {
    let setup = Setup::new(super::reorder::apply(p, moves));
    COLLECT.with(|c| *c.borrow_mut() = Collect::default());
    let program = setup.program.clone();
    let r = crate::exec::replay_body(decisions, move || execute(&setup, memory));
    let collect = COLLECT.with(|c| std::mem::take(&mut *c.borrow_mut()));
    let state = collect
        .keys
        .keys()
        .next()
        .map(|key| state_of(&program, key, &collect.addrs));
    (r, state)
}
