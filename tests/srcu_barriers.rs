//! The SRCU implementations' barriers matter under the `lkmm` memory model: the classic and tree
//! models pass with every `smp_mb()` in place, and a mutant without one of them fails.
//!
//! Barriers B (the reader's, after its counter increment) and C (the reader's, before its
//! decrement) are shown needed for classic (v3.4 and v3.5+) and tree SRCU, with the shape every
//! SRCU user relies on: an updater unpublishes an object, waits for a grace period and frees it;
//! a reader dereferences it inside a read-side critical section.
//!
//! The updater's A (between the two sums of a scan) and classic v3.4's D (between the `c` sum
//! and the second `seq` sum) order one scan's reads against each other, which matters only when
//! a reader's lock and unlock fall between them: a reader that migrates (locks on one CPU,
//! unlocks on another) while a second reader is inside. With that shape both are shown needed
//! for classic v3.4, A for v3.5+, and A for tree SRCU once its mutexes have v6.0's orderings
//! (`Config::mutex_acquire_release`; with v4.1's fully ordered `mutex_lock` before every scan, A
//! is redundant). Tree SRCU's D, E and the `rcu_seq` barriers are not yet shown needed: see the
//! limitations in the crate docs.

use kgrace::config::Config;
use kgrace::kernel::*;
use kgrace::sched::SchedulerSpec;
use kgrace::{Budget, Explorer, Failure, MemoryModel};

mod common;
use common::migrating_reader;

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

fn classic_migrating() {
    migrating_reader(SrcuFlavor::Classic)
}

fn classic_batch_migrating() {
    migrating_reader(SrcuFlavor::ClassicBatch)
}

fn tree_migrating() {
    migrating_reader(SrcuFlavor::Tree)
}

/// The migrating shape under `lkmm`, with the barriers in `drop` removed, explored by the uniform
/// walk with stalls (which finds the migrating interleavings; see `tests/rcu_srcu.rs`).
/// `v4_10_mutex`: the mutex orderings of the SRCU's kernel (v4.10+: an acquire and a release).
fn explore_migrating(name: &'static str, body: fn(), v4_10_mutex: bool, drop: u32) -> Option<Failure> {
    let config = Config::DEFAULT
        .with_gp_oracle(true)
        .with_srcu_migration(true)
        .with_srcu_drop_mb(drop)
        .with_mutex_acquire_release(v4_10_mutex);
    (1..=4).find_map(|seed| {
        Explorer::from_fn_with(name, config, body)
            .memory(MemoryModel::Lkmm)
            .scheduler(SchedulerSpec::Stall { depth: 5, seed })
            .budget(Budget::Executions(10_000))
            .run()
            .failure
    })
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

#[test]
fn a_migrating_reader_passes_classic_and_tree_srcu_with_all_their_barriers() {
    for (name, body, v4_10_mutex) in [
        ("classic", classic_migrating as fn(), false),
        ("classic v3.5+", classic_batch_migrating, false),
        ("tree", tree_migrating, true),
    ] {
        if let Some(f) = explore_migrating(name, body, v4_10_mutex, 0) {
            panic!("{name}:\n{}", f.message);
        }
    }
}

#[test]
fn classic_srcu_needs_barriers_a_and_d_once_readers_migrate() {
    for mb in [SrcuMb::A, SrcuMb::D] {
        let f = explore_migrating("classic", classic_migrating, false, mb.bit())
            .unwrap_or_else(|| panic!("classic without smp_mb {mb:?} still passes under lkmm"));
        assert!(
            f.message.contains("grace-period violation"),
            "{mb:?}: {}",
            f.message
        );
    }
}

#[test]
fn classic_v3_5_srcu_needs_barrier_a_once_readers_migrate() {
    let f = explore_migrating("classic v3.5+", classic_batch_migrating, false, SrcuMb::A.bit())
        .unwrap_or_else(|| panic!("classic v3.5+ without smp_mb A still passes under lkmm"));
    assert!(f.message.contains("grace-period violation"), "{}", f.message);
}

/// With v6.0's mutex orderings, the grace-period kworker's `mutex_lock` before a scan is no full
/// barrier, and tree SRCU's A is needed as it is in the kernel.
#[test]
fn tree_srcu_needs_barrier_a_once_readers_migrate() {
    let f = explore_migrating("tree", tree_migrating, true, SrcuMb::A.bit())
        .unwrap_or_else(|| panic!("tree without smp_mb A still passes under lkmm"));
    assert!(f.message.contains("grace-period violation"), "{}", f.message);
}
