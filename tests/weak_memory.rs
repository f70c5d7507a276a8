//! The `lkmm` memory model, shape by shape, as the LKMM litmus tests have them. Each shape runs
//! under `dfs` with no preemption bound, so "never" means every execution was explored and none
//! showed the outcome; each ordering is paired with a twin that drops it and must show it.

use kgrace::kernel::*;
use kgrace::sched::SchedulerSpec;
use kgrace::{Budget, Explorer, FailureKind, MemoryModel};

kgrace::kstruct! {
    struct Vars("vars") {
        x: Word<u64>,
        y: Word<u64>,
        p: Word<Ptr>,
        lock: Spinlock,
    }
}

kgrace::kstruct! {
    /// What the CPUs read, for CPU0 to judge after joining them.
    struct Regs("regs") {
        r0: Word<u64>,
        r1: Word<u64>,
    }
}

kgrace::kstruct! {
    struct Obj("obj") {
        data: Word<u64>,
    }
}

/// Whether the outcome the body checks for (with `bug_on(.., "outcome")`) shows in some
/// execution; `false` only once the search has explored every execution without it.
fn observed(name: &'static str, memory: MemoryModel, body: fn()) -> bool {
    let r = Explorer::from_fn(name, body)
        .memory(memory)
        .scheduler(SchedulerSpec::Dfs { preemptions: None })
        .budget(Budget::Executions(200_000))
        .run();
    match r.failure {
        Some(f) => {
            assert_eq!(f.kind, FailureKind::Bug, "{name}: {}", f.message);
            assert!(f.message.contains("outcome"), "{name}: {}", f.message);
            true
        }
        None => {
            assert!(r.exhausted, "{name}: the search did not finish within its budget");
            false
        }
    }
}

fn lkmm(name: &'static str, body: fn()) -> bool {
    observed(name, MemoryModel::Lkmm, body)
}

fn sc(name: &'static str, body: fn()) -> bool {
    observed(name, MemoryModel::Sc, body)
}

/// Two CPUs over shared variables; CPU0 then checks the registers with `judge`.
fn litmus(p0: fn(Vars, Regs), p1: fn(Vars, Regs), judge: fn(u64, u64) -> bool) {
    let v: Vars = kzalloc();
    spin_lock_init(v.lock());
    let r: Regs = kzalloc();
    let a = spawn_cpu("P0", move || p0(v, r));
    let b = spawn_cpu("P1", move || p1(v, r));
    a.join();
    b.join();
    bug_on(judge(r.r0().load(), r.r1().load()), "outcome");
    kfree(v);
    kfree(r);
}

// ---- MP: message passing -------------------------------------------------------------------

fn mp_reader(v: Vars, r: Regs) {
    r.r0().store(read_once(v.y()));
    r.r1().store(read_once(v.x()));
}

fn mp_outcome(r0: u64, r1: u64) -> bool {
    r0 == 1 && r1 == 0
}

fn mp_poonceonces() {
    litmus(
        |v, _| {
            write_once(v.x(), 1);
            write_once(v.y(), 1);
        },
        mp_reader,
        mp_outcome,
    )
}

#[test]
fn mp_without_ordering_is_observed_under_lkmm_and_never_under_sc() {
    assert!(lkmm("MP+poonceonces", mp_poonceonces));
    assert!(!sc("MP+poonceonces", mp_poonceonces));
}

fn mp_release_acquire() {
    litmus(
        |v, _| {
            write_once(v.x(), 1);
            smp_store_release(v.y(), 1);
        },
        |v, r| {
            r.r0().store(smp_load_acquire(v.y()));
            r.r1().store(read_once(v.x()));
        },
        mp_outcome,
    )
}

fn mp_release_only() {
    litmus(
        |v, _| {
            write_once(v.x(), 1);
            smp_store_release(v.y(), 1);
        },
        mp_reader,
        mp_outcome,
    )
}

#[test]
fn mp_with_release_acquire_is_never_observed_and_needs_the_acquire() {
    assert!(!lkmm("MP+pooncerelease+poacquireonce", mp_release_acquire));
    assert!(lkmm("MP+pooncerelease+poonceonce", mp_release_only));
}

fn mp_wmb_rmb() {
    litmus(
        |v, _| {
            write_once(v.x(), 1);
            smp_wmb();
            write_once(v.y(), 1);
        },
        |v, r| {
            r.r0().store(read_once(v.y()));
            smp_rmb();
            r.r1().store(read_once(v.x()));
        },
        mp_outcome,
    )
}

fn mp_wmb_only() {
    litmus(
        |v, _| {
            write_once(v.x(), 1);
            smp_wmb();
            write_once(v.y(), 1);
        },
        mp_reader,
        mp_outcome,
    )
}

/// `smp_wmb` orders only stores: it does nothing for a reader's two loads.
fn mp_wmb_wmb() {
    litmus(
        |v, _| {
            write_once(v.x(), 1);
            smp_wmb();
            write_once(v.y(), 1);
        },
        |v, r| {
            r.r0().store(read_once(v.y()));
            smp_wmb();
            r.r1().store(read_once(v.x()));
        },
        mp_outcome,
    )
}

#[test]
fn mp_with_wmb_and_rmb_is_never_observed_and_needs_the_rmb() {
    assert!(!lkmm("MP+fencewmbonceonce+fencermbonceonce", mp_wmb_rmb));
    assert!(lkmm("MP+fencewmbonceonce+poonceonce", mp_wmb_only));
    assert!(lkmm("MP+fencewmbonceonce+fencewmbonceonce", mp_wmb_wmb));
}

/// The writer publishes an initialized object; the reader reads through the pointer.
fn mp_address_dependency() {
    let v: Vars = kzalloc();
    let r: Regs = kzalloc();
    let o: Obj = kzalloc();
    let a = spawn_cpu("P0", move || {
        write_once(o.data(), 1);
        rcu_assign_pointer(v.p(), o.ptr());
    });
    let b = spawn_cpu("P1", move || {
        let q = rcu_dereference(v.p());
        if !q.is_null() {
            r.r0().store(1);
            r.r1().store(read_once(Obj::from_ptr(q).data()));
        }
    });
    a.join();
    b.join();
    bug_on(mp_outcome(r.r0().load(), r.r1().load()), "outcome");
    kfree(o);
    kfree(v);
    kfree(r);
}

/// The writer stores `x`, then publishes the object with a release. The reader reaches the
/// object through `rcu_dereference` but reads `x`, which is not reached through that pointer:
/// nothing orders that load after the pointer's, so it may miss the store to `x`, which sequential
/// consistency never allows once the pointer is seen.
fn mp_no_dependency() {
    let v: Vars = kzalloc();
    let r: Regs = kzalloc();
    let o: Obj = kzalloc();
    let a = spawn_cpu("P0", move || {
        write_once(v.x(), 1);
        write_once(o.data(), 1);
        rcu_assign_pointer(v.p(), o.ptr());
    });
    let b = spawn_cpu("P1", move || {
        let q = rcu_dereference(v.p());
        if !q.is_null() {
            r.r0().store(1);
            r.r1().store(read_once(v.x()));
        }
    });
    a.join();
    b.join();
    bug_on(mp_outcome(r.r0().load(), r.r1().load()), "outcome");
    kfree(o);
    kfree(v);
    kfree(r);
}

#[test]
fn an_address_dependency_orders_the_load_through_the_pointer_only() {
    assert!(!lkmm("MP+onceassign+derefonce", mp_address_dependency));
    assert!(lkmm("load not through the pointer", mp_no_dependency));
    assert!(!sc("load not through the pointer", mp_no_dependency));
}

// ---- SB: store buffering -------------------------------------------------------------------

fn sb_outcome(r0: u64, r1: u64) -> bool {
    r0 == 0 && r1 == 0
}

fn sb_poonceonces() {
    litmus(
        |v, r| {
            write_once(v.x(), 1);
            r.r0().store(read_once(v.y()));
        },
        |v, r| {
            write_once(v.y(), 1);
            r.r1().store(read_once(v.x()));
        },
        sb_outcome,
    )
}

fn sb_mb() {
    litmus(
        |v, r| {
            write_once(v.x(), 1);
            smp_mb();
            r.r0().store(read_once(v.y()));
        },
        |v, r| {
            write_once(v.y(), 1);
            smp_mb();
            r.r1().store(read_once(v.x()));
        },
        sb_outcome,
    )
}

fn sb_mb_one_side() {
    litmus(
        |v, r| {
            write_once(v.x(), 1);
            smp_mb();
            r.r0().store(read_once(v.y()));
        },
        |v, r| {
            write_once(v.y(), 1);
            r.r1().store(read_once(v.x()));
        },
        sb_outcome,
    )
}

/// `smp_rmb` and `smp_wmb` together are still not a full fence.
fn sb_rmb_wmb() {
    litmus(
        |v, r| {
            write_once(v.x(), 1);
            smp_wmb();
            smp_rmb();
            r.r0().store(read_once(v.y()));
        },
        |v, r| {
            write_once(v.y(), 1);
            smp_wmb();
            smp_rmb();
            r.r1().store(read_once(v.x()));
        },
        sb_outcome,
    )
}

#[test]
fn store_buffering_is_observed_without_smp_mb_and_never_with_it() {
    assert!(lkmm("SB+poonceonces", sb_poonceonces));
    assert!(!sc("SB+poonceonces", sb_poonceonces));
    assert!(!lkmm("SB+fencembonceonces", sb_mb));
    assert!(lkmm("SB+fencembonceonce+poonceonce", sb_mb_one_side));
    assert!(lkmm("SB with wmb and rmb", sb_rmb_wmb));
}

/// Value-returning RMWs are fully ordered; void ones and a failed cmpxchg are not.
fn sb_xchg() {
    litmus(
        |v, r| {
            xchg(v.x(), 1);
            r.r0().store(read_once(v.y()));
        },
        |v, r| {
            xchg(v.y(), 1);
            r.r1().store(read_once(v.x()));
        },
        sb_outcome,
    )
}

fn sb_void_rmw() {
    litmus(
        |v, r| {
            this_cpu_add(v.x(), 1);
            r.r0().store(read_once(v.y()));
        },
        |v, r| {
            this_cpu_add(v.y(), 1);
            r.r1().store(read_once(v.x()));
        },
        sb_outcome,
    )
}

fn sb_void_rmw_after_atomic() {
    litmus(
        |v, r| {
            this_cpu_add(v.x(), 1);
            smp_mb__after_atomic();
            r.r0().store(read_once(v.y()));
        },
        |v, r| {
            this_cpu_add(v.y(), 1);
            smp_mb__after_atomic();
            r.r1().store(read_once(v.x()));
        },
        sb_outcome,
    )
}

/// A cmpxchg that fails (expects 5, finds 0) orders nothing.
fn sb_failed_cmpxchg() {
    litmus(
        |v, r| {
            write_once(v.x(), 1);
            cmpxchg(v.p(), Ptr(5), Ptr(6));
            r.r0().store(read_once(v.y()));
        },
        |v, r| {
            write_once(v.y(), 1);
            smp_mb();
            r.r1().store(read_once(v.x()));
        },
        sb_outcome,
    )
}

fn sb_successful_cmpxchg() {
    litmus(
        |v, r| {
            write_once(v.x(), 1);
            cmpxchg(v.p(), Ptr(0), Ptr(6));
            r.r0().store(read_once(v.y()));
        },
        |v, r| {
            write_once(v.y(), 1);
            smp_mb();
            r.r1().store(read_once(v.x()));
        },
        sb_outcome,
    )
}

#[test]
fn value_returning_rmws_are_full_fences_and_void_or_failed_ones_are_not() {
    assert!(!lkmm("SB+xchg", sb_xchg));
    assert!(lkmm("SB+void RMW", sb_void_rmw));
    assert!(!lkmm("SB+void RMW+mb__after_atomic", sb_void_rmw_after_atomic));
    assert!(lkmm("SB+failed cmpxchg", sb_failed_cmpxchg));
    assert!(!lkmm("SB+successful cmpxchg", sb_successful_cmpxchg));
}

// ---- Locks, grace periods, coherence -----------------------------------------------------

fn mp_locked() {
    litmus(
        |v, _| {
            spin_lock(v.lock());
            write_once(v.x(), 1);
            write_once(v.y(), 1);
            spin_unlock(v.lock());
        },
        |v, r| {
            spin_lock(v.lock());
            r.r0().store(read_once(v.y()));
            r.r1().store(read_once(v.x()));
            spin_unlock(v.lock());
        },
        mp_outcome,
    )
}

fn mp_reader_unlocked() {
    litmus(
        |v, _| {
            spin_lock(v.lock());
            write_once(v.x(), 1);
            write_once(v.y(), 1);
            spin_unlock(v.lock());
        },
        mp_reader,
        mp_outcome,
    )
}

#[test]
fn critical_sections_of_one_lock_are_ordered() {
    assert!(!lkmm("MP+locks", mp_locked));
    assert!(lkmm("MP+lock on the writer only", mp_reader_unlocked));
}

fn sb_synchronize_rcu() {
    litmus(
        |v, r| {
            write_once(v.x(), 1);
            synchronize_rcu();
            r.r0().store(read_once(v.y()));
        },
        |v, r| {
            write_once(v.y(), 1);
            smp_mb();
            r.r1().store(read_once(v.x()));
        },
        sb_outcome,
    )
}

#[test]
fn synchronize_rcu_is_a_full_fence() {
    assert!(!lkmm("SB+sync+mb", sb_synchronize_rcu));
}

fn corr() {
    litmus(
        |v, _| {
            write_once(v.x(), 1);
            write_once(v.x(), 2);
        },
        |v, r| {
            r.r0().store(read_once(v.x()));
            r.r1().store(read_once(v.x()));
        },
        |r0, r1| r0 == 2 && r1 == 1,
    )
}

#[test]
fn coherence_holds_for_one_location() {
    assert!(!lkmm("CoRR", corr));
}

#[test]
fn stale_reads_are_recorded_in_traces_and_replay() {
    let r = Explorer::from_fn("MP+poonceonces", mp_poonceonces)
        .memory(MemoryModel::Lkmm)
        .scheduler(SchedulerSpec::Dfs { preemptions: None })
        .budget(Budget::Executions(200_000))
        .run();
    let trace = r.trace.expect("MP is observed under lkmm");
    assert_eq!(trace.memory, MemoryModel::Lkmm);
    let stale: Vec<_> = trace.events.iter().filter(|e| e.stale.is_some()).collect();
    assert!(!stale.is_empty(), "the trace shows which store a load read");
    let text = trace.render(&trace.events, trace.failure.as_ref());
    assert!(text.contains("stale: read the"), "{text}");
    assert!(text.contains("missed 1 stored at step"), "{text}");
}
