//! A sequential reference [`Machine`]: one memory, no reordering, processes run one after
//! another. It gives one sequentially consistent execution per process order, which LKMM
//! always allows; tests use it to check the front end, and it shows how an engine lays out
//! memory from [`Program::shared`] and builds a [`FinalState`].

use std::collections::BTreeMap;

use super::ast::InitValue;
use super::check::Program;
use super::cond::FinalState;
use super::interp::{FenceKind, LoadKind, Machine, Registers, RmwOp, RmwOrder, StoreKind};

/// Where the first location lives; addresses are far from the small integers tests use, so a
/// value is an address exactly when it is some location's.
const BASE: u64 = 0x1000_0000;
/// Distance between locations.
const STRIDE: u64 = 0x100;

/// A sequentially consistent memory shared by processes that run one at a time.
#[derive(Clone, Debug, Default)]
pub struct SeqMachine {
    addrs: BTreeMap<String, u64>,
    mem: BTreeMap<u64, u64>,
    /// Every event, in order, as text (`P0: store Once x=1`), for tests.
    pub log: Vec<String>,
    /// The process running (only for the log).
    pub current: usize,
    /// Set when a process waited for something no later step can give (a lock it or an
    /// earlier process left held, a grace period inside its own reader).
    pub deadlocked: bool,
    rcu_depth: usize,
    /// Open SRCU readers per `srcu_struct`, over all processes: `srcu_down_read` may be ended
    /// by another process's `srcu_up_read`.
    srcu_readers: BTreeMap<u64, i64>,
}

impl SeqMachine {
    /// Memory laid out and initialized for `p`.
    pub fn new(p: &Program) -> Self {
        let mut m = SeqMachine::default();
        for (i, v) in p.shared.iter().enumerate() {
            m.addrs.insert(v.name.clone(), BASE + STRIDE * i as u64);
        }
        // Initial values may point to any location, so they are written once all have addresses.
        for v in &p.shared {
            let value = match &v.init {
                InitValue::Int(i) => *i as u64,
                InitValue::AddrOf(x) => m.addr(x),
            };
            let a = m.addr(&v.name);
            m.mem.insert(a, value);
        }
        m
    }

    fn addr(&self, var: &str) -> u64 {
        // Check guarantees every name is a shared location; 0 (NULL) otherwise.
        self.addrs.get(var).copied().unwrap_or(0)
    }

    /// The location at `addr`, if any.
    pub fn name_of(&self, addr: u64) -> Option<String> {
        self.addrs
            .iter()
            .find(|(_, a)| **a == addr)
            .map(|(n, _)| n.clone())
    }

    /// The word at shared location `var`.
    pub fn value_of(&self, var: &str) -> u64 {
        self.mem.get(&self.addr(var)).copied().unwrap_or(0)
    }

    fn show(&self, addr: u64) -> String {
        self.name_of(addr).unwrap_or_else(|| format!("{addr:#x}"))
    }

    fn event(&mut self, text: String) {
        let line = format!("P{}: {text}", self.current);
        self.log.push(line);
    }

    /// Runs the processes of `p` in `order` and returns the final state.
    pub fn run(p: &Program, order: &[usize]) -> (FinalState, SeqMachine) {
        let mut m = SeqMachine::new(p);
        let mut regs: Vec<Registers> = vec![Vec::new(); p.procs.len()];
        for &i in order {
            m.current = i;
            m.rcu_depth = 0;
            if let (Some(proc), Some(slot)) = (p.procs.get(i), regs.get_mut(i)) {
                *slot = proc.run(&mut m);
            }
        }
        let st = p.final_state(&regs, |v| m.value_of(v), |a| m.name_of(a));
        (st, m)
    }
}

impl Machine for SeqMachine {
    fn addr_of(&mut self, var: &str) -> u64 {
        self.addr(var)
    }

    fn load(&mut self, addr: u64, kind: LoadKind) -> u64 {
        let v = self.mem.get(&addr).copied().unwrap_or(0);
        let text = format!("load {kind:?} {}={v}", self.show(addr));
        self.event(text);
        v
    }

    fn store(&mut self, addr: u64, kind: StoreKind, value: u64) {
        let text = format!("store {kind:?} {}={value}", self.show(addr));
        self.event(text);
        self.mem.insert(addr, value);
    }

    fn rmw(&mut self, addr: u64, op: RmwOp, order: RmwOrder) -> u64 {
        let old = self.mem.get(&addr).copied().unwrap_or(0);
        let new = op.apply(old);
        if let Some(n) = new {
            self.mem.insert(addr, n);
        }
        let text = format!("rmw {op:?} {order:?} {} {old}->{new:?}", self.show(addr));
        self.event(text);
        old
    }

    fn fence(&mut self, kind: FenceKind) {
        self.event(format!("fence {kind:?}"));
    }

    fn spin_lock(&mut self, lock: u64) {
        let held = self.mem.get(&lock).copied().unwrap_or(0) != 0;
        if held {
            self.deadlocked = true;
        }
        self.mem.insert(lock, 1);
        let text = format!("spin_lock {}", self.show(lock));
        self.event(text);
    }

    fn spin_unlock(&mut self, lock: u64) {
        self.mem.insert(lock, 0);
        let text = format!("spin_unlock {}", self.show(lock));
        self.event(text);
    }

    fn spin_trylock(&mut self, lock: u64) -> bool {
        let free = self.mem.get(&lock).copied().unwrap_or(0) == 0;
        if free {
            self.mem.insert(lock, 1);
        }
        free
    }

    fn spin_is_locked(&mut self, lock: u64) -> bool {
        self.mem.get(&lock).copied().unwrap_or(0) != 0
    }

    fn rcu_read_lock(&mut self) {
        self.rcu_depth += 1;
        self.event("rcu_read_lock".into());
    }

    fn rcu_read_unlock(&mut self) {
        self.rcu_depth = self.rcu_depth.saturating_sub(1);
        self.event("rcu_read_unlock".into());
    }

    fn synchronize_rcu(&mut self) {
        // Other processes are not running, so only the caller's own reader can be in the way.
        if self.rcu_depth > 0 {
            self.deadlocked = true;
        }
        self.event("synchronize_rcu".into());
    }

    fn srcu_read_lock(&mut self, srcu: u64) -> u64 {
        *self.srcu_readers.entry(srcu).or_default() += 1;
        let text = format!("srcu_read_lock {}", self.show(srcu));
        self.event(text);
        0
    }

    fn srcu_read_unlock(&mut self, srcu: u64, idx: u64) {
        *self.srcu_readers.entry(srcu).or_default() -= 1;
        let text = format!("srcu_read_unlock {} {idx}", self.show(srcu));
        self.event(text);
    }

    fn synchronize_srcu(&mut self, srcu: u64) {
        // A reader still open (its own, or a `srcu_down_read` waiting for another process's
        // `srcu_up_read`) would make it wait forever here.
        if self.srcu_readers.get(&srcu).is_some_and(|n| *n > 0) {
            self.deadlocked = true;
        }
        let text = format!("synchronize_srcu {}", self.show(srcu));
        self.event(text);
    }
}
