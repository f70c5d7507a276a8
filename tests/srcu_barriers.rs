//! The SRCU implementations' barriers matter under the `lkmm` memory model: the classic and tree
//! models pass with every `smp_mb()` in place, and a mutant without one of them fails.
//!
//! Barriers B (the reader's, after its counter increment) and C (the reader's, before its
//! decrement) are shown needed for classic (v3.4 and v3.5+) and tree SRCU. A is not yet: under the `lkmm` machine the
//! updater's `mutex_lock` before its counter scan raises its view past the reader's increment
//! (the machine is multicopy-atomic), which does the work of A. That is listed among the
//! limitations in the crate docs.
//!
//! The shape is the one every SRCU user relies on: an updater unpublishes an object, waits for a
//! grace period and frees it; a reader dereferences it inside a read-side critical section.

use kgrace::config::Config;
use kgrace::kernel::*;
use kgrace::sched::SchedulerSpec;
use kgrace::{Budget, Explorer, Failure, MemoryModel};

kgrace::kstruct! {
    struct Gp("gp") {
        p: Word<Ptr>,
    }
}

kgrace::kstruct! {
    struct Obj("obj") {
        data: Word<u64>,
    }
}

fn srcu_shape(flavor: SrcuFlavor) {
    let ssp = init_srcu_struct(flavor);
    let gp: Gp = kzalloc();
    let o: Obj = kzalloc();
    o.data().store(1);
    rcu_assign_pointer(gp.p(), o.ptr());
    let reader = spawn_cpu("reader", move || {
        let idx = srcu_read_lock(ssp);
        let p = srcu_dereference(gp.p(), ssp);
        if !p.is_null() {
            let _ = Obj::from_ptr(p).data().load();
        }
        srcu_read_unlock(ssp, idx);
    });
    let updater = spawn_cpu("updater", move || {
        let old = gp.p().load();
        write_once(gp.p(), Ptr::NULL);
        synchronize_srcu(ssp);
        kfree_ptr(old);
    });
    reader.join();
    updater.join();
    cleanup_srcu_struct(ssp);
    kfree(gp);
}

fn classic() {
    srcu_shape(SrcuFlavor::Classic)
}

fn tree() {
    srcu_shape(SrcuFlavor::Tree)
}

fn classic_batch() {
    srcu_shape(SrcuFlavor::ClassicBatch)
}

fn explore(name: &'static str, body: fn(), drop: u32, memory: MemoryModel, seeds: u64) -> Option<Failure> {
    let config = Config::DEFAULT.with_gp_oracle(true).with_srcu_drop_mb(drop);
    (1..=seeds).find_map(|seed| {
        Explorer::from_fn_with(name, config, body)
            .memory(memory)
            .scheduler(SchedulerSpec::Portfolio { depth: 3, seed })
            .budget(Budget::Executions(5_000))
            .run()
            .failure
    })
}

#[test]
fn classic_and_tree_srcu_pass_with_all_their_barriers() {
    for memory in MemoryModel::ALL {
        for (name, body) in [
            ("classic", classic as fn()),
            ("classic v3.5+", classic_batch),
            ("tree", tree),
        ] {
            if let Some(f) = explore(name, body, 0, memory, 4) {
                panic!("{name} under {memory}:\n{}", f.message);
            }
        }
    }
}

fn assert_needed(name: &'static str, body: fn(), mb: SrcuMb) {
    let f = explore(name, body, mb.bit(), MemoryModel::Lkmm, 8)
        .unwrap_or_else(|| panic!("{name} without smp_mb {mb:?} still passes under lkmm"));
    eprintln!(
        "{name} without {mb:?}: {}",
        f.message.lines().next().unwrap_or("")
    );
}

#[test]
fn classic_srcu_needs_barrier_b() {
    assert_needed("classic", classic, SrcuMb::B);
}

#[test]
fn tree_srcu_needs_barrier_b() {
    assert_needed("tree", tree, SrcuMb::B);
}

#[test]
fn classic_srcu_needs_barrier_c() {
    assert_needed("classic", classic, SrcuMb::C);
}

#[test]
fn tree_srcu_needs_barrier_c() {
    assert_needed("tree", tree, SrcuMb::C);
}

#[test]
fn classic_v3_5_srcu_needs_barriers_b_and_c() {
    assert_needed("classic v3.5+", classic_batch, SrcuMb::B);
    assert_needed("classic v3.5+", classic_batch, SrcuMb::C);
}
