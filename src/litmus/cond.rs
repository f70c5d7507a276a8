//! Final states, the evaluation of `exists`/`filter` propositions on them, and herd7's verdict.
//!
//! A final state maps locations (`0:r1`, `x`) to [`Value`]s. herd7 prints a pointer as the name
//! of the location it points to (`0:r1=x`), so a value is an integer or an address shown as a
//! name; the engine converts its raw words with [`Value::from_machine`].

use std::collections::BTreeMap;
use std::fmt;

use super::ast::{Cond, CondRhs, Final, Loc, Quantifier};

/// A value in a final state.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Value {
    /// An integer.
    Int(i64),
    /// The address of the named shared location.
    Addr(String),
}

impl Value {
    /// The value of raw word `raw`: the location `name_of` says lives at that address, or the
    /// integer. Engines should place locations at addresses no test uses as an integer (tests
    /// use small numbers), since an integer equal to an address would print as that location.
    pub fn from_machine(raw: u64, name_of: impl Fn(u64) -> Option<String>) -> Value {
        match name_of(raw) {
            Some(name) => Value::Addr(name),
            None => Value::Int(raw as i64),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Int(v) => write!(f, "{v}"),
            Value::Addr(x) => write!(f, "{x}"),
        }
    }
}

/// The values of some locations at the end of an execution.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FinalState {
    values: BTreeMap<Loc, Value>,
}

impl FinalState {
    /// An empty state.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the value of `loc`.
    pub fn insert(&mut self, loc: Loc, value: Value) {
        self.values.insert(loc, value);
    }

    /// Sets register `reg` of process `proc`.
    pub fn set_reg(&mut self, proc: usize, reg: &str, value: Value) {
        self.insert(
            Loc::Reg {
                proc,
                reg: reg.to_string(),
            },
            value,
        );
    }

    /// Sets shared location `var`.
    pub fn set_var(&mut self, var: &str, value: Value) {
        self.insert(Loc::Var(var.to_string()), value);
    }

    /// The value of `loc`, if the state has it.
    pub fn get(&self, loc: &Loc) -> Option<&Value> {
        self.values.get(loc)
    }

    /// The state restricted to `locs` (herd7 counts distinct states over the observed
    /// locations only, see [`Program::observed_locations`](super::Program::observed_locations)).
    pub fn project(&self, locs: &[Loc]) -> FinalState {
        FinalState {
            values: self
                .values
                .iter()
                .filter(|(l, _)| locs.contains(l))
                .map(|(l, v)| (l.clone(), v.clone()))
                .collect(),
        }
    }

    /// The locations and values, registers first (by process), then shared locations.
    pub fn iter(&self) -> impl Iterator<Item = (&Loc, &Value)> {
        self.values.iter()
    }
}

/// herd7's form: `0:r0=1; 1:r1=x; y=2;`.
impl fmt::Display for FinalState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (l, v) in &self.values {
            if !first {
                write!(f, " ")?;
            }
            first = false;
            write!(f, "{l}={v};")?;
        }
        Ok(())
    }
}

/// A condition named a location the final state has no value for.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the final state has no value for `{0}`")]
pub struct MissingLocation(pub Loc);

/// Whether `state` satisfies `cond`. An integer never equals an address.
pub fn eval(cond: &Cond, state: &FinalState) -> Result<bool, MissingLocation> {
    Ok(match cond {
        Cond::Const(b) => *b,
        Cond::Atom { lhs, rhs, negated } => {
            let get = |l: &Loc| state.get(l).ok_or_else(|| MissingLocation(l.clone()));
            let left = get(lhs)?;
            let equal = match rhs {
                CondRhs::Int(v) => *left == Value::Int(*v),
                CondRhs::Addr(x) => matches!(left, Value::Addr(y) if y == x),
                CondRhs::Reg { proc, reg } => {
                    left == get(&Loc::Reg {
                        proc: *proc,
                        reg: reg.clone(),
                    })?
                }
            };
            equal != *negated
        }
        Cond::Not(c) => !eval(c, state)?,
        Cond::And(a, b) => eval(a, state)? && eval(b, state)?,
        Cond::Or(a, b) => eval(a, state)? || eval(b, state)?,
    })
}

/// herd7's `Observation` word: how many final states satisfy the proposition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Observation {
    /// None does (also when there is no final state at all: herd7's `Never 0 0`).
    Never,
    /// Some do, some do not.
    Sometimes,
    /// All do.
    Always,
}

impl fmt::Display for Observation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Observation::Never => "Never",
            Observation::Sometimes => "Sometimes",
            Observation::Always => "Always",
        })
    }
}

/// The judgement of a test over a set of final states, as herd7 reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Outcome {
    /// Never/Sometimes/Always for the proposition of the final clause (the quantifier does not
    /// change it: `~exists p` and `forall p` count the states satisfying `p`, like `exists p`).
    pub observation: Observation,
    /// States (after the filter) satisfying the proposition.
    pub positive: usize,
    /// States (after the filter) not satisfying it.
    pub negative: usize,
    /// States the filter dropped.
    pub filtered: usize,
    /// herd7's `Ok`: `exists` when some state satisfies, `~exists` when none does, `forall`
    /// when all do.
    pub validated: bool,
}

impl Outcome {
    /// No state survived (herd7's `Never 0 0`, which the kernel's scripts call DEADLOCK: a
    /// self-deadlock, or a filter that rejects every execution).
    pub fn no_states(&self) -> bool {
        self.positive + self.negative == 0
    }
}

/// Judges `states`: drops those failing `filter`, counts those satisfying `fin`'s proposition,
/// and applies its quantifier. herd7 counts distinct states over the observed locations, so
/// pass each state once (see [`FinalState::project`]) to get its numbers; the observation does
/// not depend on it. A test without a final clause judges as `exists true`.
pub fn judge(
    fin: Option<&Final>,
    filter: Option<&Cond>,
    states: &[FinalState],
) -> Result<Outcome, MissingLocation> {
    let (mut positive, mut negative, mut filtered) = (0, 0, 0);
    let always = Cond::Const(true);
    let prop = fin.map_or(&always, |f| &f.cond);
    for s in states {
        if let Some(flt) = filter {
            if !eval(flt, s)? {
                filtered += 1;
                continue;
            }
        }
        if eval(prop, s)? {
            positive += 1;
        } else {
            negative += 1;
        }
    }
    let observation = match (positive, negative) {
        (0, _) => Observation::Never,
        (_, 0) => Observation::Always,
        _ => Observation::Sometimes,
    };
    let validated = match fin.map_or(Quantifier::Exists, |f| f.quantifier) {
        Quantifier::Exists => positive > 0,
        Quantifier::NotExists => positive == 0,
        Quantifier::Forall => negative == 0,
    };
    Ok(Outcome {
        observation,
        positive,
        negative,
        filtered,
        validated,
    })
}

impl super::Program {
    /// [`judge`] with this test's final clause and filter.
    pub fn judge(&self, states: &[FinalState]) -> Result<Outcome, MissingLocation> {
        judge(self.test.fin.as_ref(), self.test.filter.as_ref(), states)
    }
}

impl super::Program {
    /// The final state of an execution: every register of every process (`regs[n]` is what
    /// process `n` returned) and every word or atomic shared location, and any other location a
    /// clause names (`var_value` reads the engine's memory), with raw words turned into
    /// [`Value`]s by `name_of`.
    pub fn final_state(
        &self,
        regs: &[super::Registers],
        mut var_value: impl FnMut(&str) -> u64,
        name_of: impl Fn(u64) -> Option<String>,
    ) -> FinalState {
        let mut st = FinalState::new();
        for (proc, rs) in regs.iter().enumerate() {
            for (name, raw) in rs {
                st.set_reg(proc, name, Value::from_machine(*raw, &name_of));
            }
        }
        let observed = self.observed_locations();
        for v in &self.shared {
            // Locks and SRCU structures have no value of their own unless a condition asks.
            let named = observed.iter().any(|l| matches!(l, Loc::Var(x) if *x == v.name));
            if named || matches!(v.kind, super::LocKind::Word | super::LocKind::Atomic) {
                st.set_var(&v.name, Value::from_machine(var_value(&v.name), &name_of));
            }
        }
        st
    }
}
