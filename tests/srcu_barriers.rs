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
//! is redundant).
//!
//! Tree SRCU's other barriers (`docs/srcu.md`, §Tree SRCU's other barriers): the polled API's
//! two are needed, `rcu_seq_end`'s is needed once A and the scan's control dependency are gone,
//! and no shape here needs E, D or the other `rcu_seq` barriers (the docs argue from LKMM's
//! rules why none does).

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

/// An object published at `gp.p`, and a reader that dereferences it inside a read-side section:
/// what every shape here frees under it.
fn published_and_read(ssp: SrcuStruct) -> (Gp, CpuHandle) {
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
    (gp, reader)
}

fn srcu_shape(flavor: SrcuFlavor) {
    let ssp = init_srcu_struct(flavor);
    let (gp, reader) = published_and_read(ssp);
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

/// The first failure of `body` under `config` and `memory`, over seeds `1..=seeds`, each given
/// `budget` executions of the strategy `spec(seed)`.
fn first_failure(
    name: &'static str,
    body: fn(),
    config: Config,
    memory: MemoryModel,
    seeds: u64,
    spec: fn(u64) -> SchedulerSpec,
    budget: u64,
) -> Option<Failure> {
    (1..=seeds).find_map(|seed| {
        Explorer::from_fn_with(name, config, body)
            .memory(memory)
            .scheduler(spec(seed))
            .budget(Budget::Executions(budget))
            .run()
            .failure
    })
}

fn portfolio(seed: u64) -> SchedulerSpec {
    SchedulerSpec::Portfolio { depth: 3, seed }
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
    let stall = |seed| SchedulerSpec::Stall { depth: 5, seed };
    first_failure(name, body, config, MemoryModel::Lkmm, 4, stall, 10_000)
}

fn explore(name: &'static str, body: fn(), drop: u32, memory: MemoryModel, seeds: u64) -> Option<Failure> {
    let config = Config::DEFAULT.with_gp_oracle(true).with_srcu_drop_mb(drop);
    first_failure(name, body, config, memory, seeds, portfolio, 5_000)
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

/// The grace-period oracle judges by step order, stricter than LKMM under `lkmm`. So a mutant
/// counts only when the reader it names still inside is CPU0 `setup`, which entered its section
/// before it spawned the updater: that entry happens before the `synchronize_srcu` call, and the
/// violation holds in LKMM's terms too.
fn violates_for_setup(f: &Failure) -> bool {
    f.message.contains("grace-period violation") && f.message.contains("setup is still inside")
}

#[test]
fn classic_srcu_needs_barriers_a_and_d_once_readers_migrate() {
    for mb in [SrcuMb::A, SrcuMb::D] {
        let f = explore_migrating("classic", classic_migrating, false, mb.bit())
            .unwrap_or_else(|| panic!("classic without smp_mb {mb:?} still passes under lkmm"));
        assert!(violates_for_setup(&f), "{mb:?}: {}", f.message);
    }
}

#[test]
fn classic_v3_5_srcu_needs_barrier_a_once_readers_migrate() {
    let f = explore_migrating("classic v3.5+", classic_batch_migrating, false, SrcuMb::A.bit())
        .unwrap_or_else(|| panic!("classic v3.5+ without smp_mb A still passes under lkmm"));
    assert!(violates_for_setup(&f), "{}", f.message);
}

/// With v6.0's mutex orderings, the grace-period kworker's `mutex_lock` before a scan is no full
/// barrier, and tree SRCU's A is needed as it is in the kernel.
#[test]
fn tree_srcu_needs_barrier_a_once_readers_migrate() {
    let f = explore_migrating("tree", tree_migrating, true, SrcuMb::A.bit())
        .unwrap_or_else(|| panic!("tree without smp_mb A still passes under lkmm"));
    assert!(violates_for_setup(&f), "{}", f.message);
}

/// The polled grace-period API (`start_poll_synchronize_srcu`, v5.11+): the updater spins on
/// `poll_state_synchronize_srcu` instead of sleeping on a callback, so nothing but `srcu_gp_seq`
/// orders the end of the grace period before its `kfree`.
fn polled_shape(flavor: SrcuFlavor) {
    let ssp = init_srcu_struct(flavor);
    let (gp, reader) = published_and_read(ssp);
    let updater = spawn_cpu("updater", move || {
        let old = gp.p().load();
        write_once(gp.p(), Ptr::NULL);
        let cookie = start_poll_synchronize_srcu(ssp);
        while !poll_state_synchronize_srcu(ssp, cookie) {
            cpu_relax();
        }
        kfree_ptr(old);
    });
    reader.join();
    updater.join();
    cleanup_srcu_struct(ssp);
    kfree(gp);
}

/// `get_state_synchronize_srcu` takes a cookie without asking for a grace period; another
/// updater's `synchronize_srcu` drives one meanwhile, and the first frees at once if the
/// cookie's grace period is already over (the kernel's `cond_synchronize_rcu` pattern).
fn get_state_shape(flavor: SrcuFlavor) {
    let ssp = init_srcu_struct(flavor);
    let (gp, reader) = published_and_read(ssp);
    let other = spawn_cpu("other updater", move || synchronize_srcu(ssp));
    let updater = spawn_cpu("updater", move || {
        let old = gp.p().load();
        write_once(gp.p(), Ptr::NULL);
        let cookie = get_state_synchronize_srcu(ssp);
        if !poll_state_synchronize_srcu(ssp, cookie) {
            synchronize_srcu(ssp);
        }
        kfree_ptr(old);
    });
    reader.join();
    other.join();
    updater.join();
    cleanup_srcu_struct(ssp);
    kfree(gp);
}

fn tree_polled() {
    polled_shape(SrcuFlavor::Tree)
}

fn tree_polled_without_ctrl_dep() {
    polled_shape(SrcuFlavor::TreeWithoutCtrlDep)
}

fn tree_get_state() {
    get_state_shape(SrcuFlavor::Tree)
}

/// A tree SRCU shape with v6.0's mutex orderings and the barriers in `drop` removed.
fn explore_v6(name: &'static str, body: fn(), drop: u32, memory: MemoryModel) -> Option<Failure> {
    let config = Config::DEFAULT
        .with_gp_oracle(true)
        .with_srcu_drop_mb(drop)
        .with_mutex_acquire_release(true);
    first_failure(name, body, config, memory, 4, portfolio, 5_000)
}

fn bits(mbs: &[SrcuMb]) -> u32 {
    mbs.iter().fold(0, |m, mb| m | mb.bit())
}

#[test]
fn polled_grace_periods_pass_tree_srcu_with_all_its_barriers() {
    for memory in MemoryModel::ALL {
        for (name, body) in [
            ("polled", tree_polled as fn()),
            ("polled, no scan control dependency", tree_polled_without_ctrl_dep),
            ("get_state", tree_get_state),
        ] {
            if let Some(f) = explore_v6(name, body, 0, memory) {
                panic!("{name} under {memory}:\n{}", f.message);
            }
        }
    }
}

fn assert_needed_v6(name: &'static str, body: fn(), drop: &[SrcuMb]) {
    let f = explore_v6(name, body, bits(drop), MemoryModel::Lkmm)
        .unwrap_or_else(|| panic!("{name} without {drop:?} still passes under lkmm"));
    assert!(
        f.message.contains("kfree"),
        "{name} without {drop:?}: {}",
        f.message
    );
}

/// `poll_state_synchronize_srcu`'s `smp_mb()` after it saw the grace period done: without it the
/// `kfree` is not ordered after the reader (a plain store, which a control dependency does not
/// order: herd7 flags paulmckrcu/litmus's `manual/plain/C-S+o-mb-o+o-ctl-p` as a data race).
#[test]
fn tree_srcu_poll_state_needs_its_barrier() {
    assert_needed_v6("polled", tree_polled, &[SrcuMb::Poll]);
}

/// `get_state_synchronize_srcu`'s `smp_mb()` before its snapshot: without it the load of
/// `srcu_gp_seq` may read a value from before a grace period that already flipped, so the
/// cookie names that grace period, which does not wait for a reader that saw the new index and
/// still the old pointer.
#[test]
fn tree_srcu_get_state_needs_its_barrier() {
    assert_needed_v6("get_state", tree_get_state, &[SrcuMb::GetState]);
}

/// `rcu_seq_end`'s barrier orders the scan's loads before the store that ends the grace period.
/// Two other things do too: A (between the scan's two sums) and the control dependency from the
/// scan to everything after it. The barrier is needed only once both are gone.
#[test]
fn rcu_seq_end_barrier_is_backed_by_barrier_a_and_the_scan_control_dependency() {
    for drop in [&[SrcuMb::SeqEnd][..], &[SrcuMb::SeqEnd, SrcuMb::A]] {
        if let Some(f) = explore_v6("polled", tree_polled, bits(drop), MemoryModel::Lkmm) {
            panic!("polled without {drop:?}:\n{}", f.message);
        }
    }
    let name = "polled, no scan control dependency";
    if let Some(f) = explore_v6(
        name,
        tree_polled_without_ctrl_dep,
        SrcuMb::SeqEnd.bit(),
        MemoryModel::Lkmm,
    ) {
        panic!("{name}, without SeqEnd:\n{}", f.message);
    }
    assert_needed_v6(name, tree_polled_without_ctrl_dep, &[SrcuMb::SeqEnd, SrcuMb::A]);
}

/// D after the flip (classic v3.5+ and tree SRCU) pairs with C so that a reader whose unlock a
/// scan missed sees the new index at its next lock; A gives the same guarantee (v6.0's comment
/// on tree's D says so). Without D, every shape here passes, the migrating reader included,
/// where classic v3.4's D is needed.
#[test]
fn classic_v3_5_and_tree_srcu_pass_without_barrier_d() {
    let d = SrcuMb::D.bit();
    if let Some(f) = explore("classic v3.5+", classic_batch, d, MemoryModel::Lkmm, 4) {
        panic!("classic v3.5+ without D:\n{}", f.message);
    }
    for (name, body, v4_10_mutex) in [
        ("classic v3.5+", classic_batch_migrating as fn(), false),
        ("tree", tree_migrating, true),
    ] {
        if let Some(f) = explore_migrating(name, body, v4_10_mutex, d) {
            panic!("{name} without D, migrating reader:\n{}", f.message);
        }
    }
}

/// The tree SRCU barriers no shape here needs (`docs/srcu.md`, §Tree SRCU's other barriers,
/// argues from LKMM's rules that none is needed): E (whose order the machine always keeps; the
/// kernel has called it redundant since 2023), D (whose guarantee A also gives, as v6.0's
/// comment says), and the `rcu_seq` barriers other than `rcu_seq_end`'s. All removed at once,
/// the three shapes still pass.
#[test]
fn tree_srcu_passes_without_e_d_and_the_covered_rcu_seq_barriers() {
    use SrcuMb::*;
    let drop = bits(&[E, D, SeqStart, SeqSnap, GpStart, SyncEnd]);
    for (name, body) in [
        ("tree", tree as fn()),
        ("polled", tree_polled),
        ("get_state", tree_get_state),
    ] {
        if let Some(f) = explore_v6(name, body, drop, MemoryModel::Lkmm) {
            panic!(
                "{name} without E, D and the covered rcu_seq barriers:\n{}",
                f.message
            );
        }
    }
}
