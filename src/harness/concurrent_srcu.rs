//! `concurrent_srcu`: may two KVM writers call `synchronize_srcu` on `kvm->srcu` at once?
//!
//! Thread: "[PATCH] kvm: x86: keep srcu writer side operation mutually exclusive", Hao Peng and
//! Sean Christopherson, kvm list, October 2022; the thread, the kernel code and the oracles are in
//! `docs/concurrent_srcu.md`, the SRCU implementations in `docs/srcu.md`.
//!
//! `kvm_vm_ioctl_set_pmu_event_filter` replaces `kvm->arch.pmu_event_filter` under `kvm->lock`,
//! calls `synchronize_srcu_expedited(&kvm->srcu)` after `mutex_unlock`, and frees the old
//! filter; a vCPU reads the filter inside `srcu_read_lock(&kvm->srcu)`. Hao's patch moves the
//! synchronize inside the lock, because the lock/unlock counter arrays "are used alternately"
//! and two concurrent callers "may have a problem with the judgment of gp". Sean: the lock only
//! has to make each writer replace the filter the previous one installed; SRCU serializes its
//! own grace-period work.
//!
//! kgrace's answer: with a real SRCU (classic or tree) concurrent callers are safe, as Sean
//! says; Hao's worry is real only for a single-phase SRCU that real kernels never had
//! (`docs/srcu.md`, §The naive SRCU).
//! There, CPU by CPU (B1):
//!
//! ```text
//! CPU1 vcpu0                   CPU2 writer A                  CPU3 writer B
//! srcu_read_lock: i=0, cnt[0]=1
//! f = srcu_dereference(filter)  (F1)
//!                              mutex_lock(kvm->lock)
//!                              old=F1; filter=F2
//!                              mutex_unlock
//!                                                             mutex_lock(kvm->lock)
//!                                                             old=F2; filter=F3
//!                                                             mutex_unlock
//!                                                             synchronize_srcu: i=0, idx=1,
//!                                                             waits for cnt[0] (CPU1)
//!                              synchronize_srcu: i=1, idx=2,
//!                              cnt[1]==0: returns
//!                              kfree(F1)
//! f->action                    <- use-after-free
//! ```
//!
//! and with one writer and a reader preempted between loading the index and counting itself in
//! (B1′, `naive-straggler`): the reader counts itself on the index the next writer won't scan.
//! Moving the synchronize inside `kvm->lock` (`naive-fixed`) closes B1 but not B1′.
//!
//! Variants:
//! * `buggy`: naive SRCU, two writers, synchronize outside `kvm->lock` (B1).
//! * `naive-straggler`: naive SRCU, one writer replacing the filter twice (B1′), with the
//!   grace-period oracle on: it reports the second `synchronize_srcu` returning while the
//!   straggler is inside, before any use-after-free.
//! * `naive-fixed`: naive SRCU with Hao's patch (synchronize inside `kvm->lock`): B1′ remains.
//! * `classic`, `tree`: the kernel's SRCUs, two writers, no caller-side serialization: safe.
//! * `classic-straggler`, `tree-straggler`: the kernel's SRCUs under B1′'s single writer: the
//!   scan of the inactive index catches the straggler. (`tests/rcu_srcu.rs` runs this shape on
//!   mutants without that scan, and the grace-period oracle fails them.)
//! * `classic-2.6`, `classic-2.6-straggler`: the 2.6.19–v3.3 SRCU (`synchronize_sched()` three
//!   times under its mutex), with its early exit for a caller whose snapshot is two flips old.
//! * `early-exit-1` (lkmm): the same exiting after one flip (B3, the bug its code comment warns
//!   of): a caller that arrived after its helper's first `synchronize_sched()` frees a filter a
//!   vCPU that already sees the flip may still read. `early-exit-1-sc`: passes under sc.
//! * `small-counters` (B4, no kernel): classic v3.5's lock/unlock counters two bits wide and
//!   callers that flip while another scans; a vCPU's quick exits wrap the counters between the
//!   scan's unlock and lock sums while another vCPU is inside (three vCPUs here).
//!   `small-counters-serialized` (one scan at a time; pinned to sc, see `docs/srcu.md` §B4 for
//!   why) and `small-counters-wide` (counters that do not wrap) pass.
//! * `fixed`: Hao's patch on tree SRCU: safe, as `tree` already is.
//! * `srcu-barrier`: tree SRCU, each writer calling `srcu_barrier` where the grace period is
//!   needed (B5): it waits only for callbacks already queued, and with none it returns at once.
//!
//! The passing variants run with the grace-period oracle on: every `synchronize_srcu` return is
//! checked, not only the use-after-free it would lead to.

use super::{Config, Expected, Harness, MemoryModel, Variant};
use crate::kernel::*;
use crate::FailureKind;

/// The v6.0 kernel's configuration: its mutexes have v4.10's orderings (acquire, release).
const KERNEL: Config = Config::DEFAULT.with_mutex_acquire_release(true);

pub(super) const HARNESS: Harness = Harness {
    name: "concurrent_srcu",
    thread: "001 kvm: x86: keep srcu writer side operation mutually exclusive (kvm, 2022)",
    question: "may two writers call synchronize_srcu on kvm->srcu concurrently, or must they \
               serialize it under kvm->lock?",
    variants: &[
        Variant {
            name: "buggy",
            expected: Expected::FailsWith(super::LIFETIME),
            summary: "naive single-phase SRCU, two writers synchronizing concurrently (B1)",
            config: MIGRATE,
        },
        Variant {
            name: "naive-straggler",
            expected: Expected::FailsWith(&[
                FailureKind::GracePeriodViolation,
                FailureKind::UseAfterFree,
                FailureKind::DataRace,
            ]),
            summary: "naive SRCU, one writer twice: a reader preempted before its increment (B1'), \
                      caught by the grace-period oracle",
            config: ORACLE,
        },
        Variant {
            name: "naive-fixed",
            expected: Expected::FailsWith(super::LIFETIME),
            summary: "naive SRCU with synchronize inside kvm->lock: serializing callers leaves B1'",
            config: MIGRATE,
        },
        Variant {
            name: "classic",
            expected: Expected::Passes,
            summary: "classic SRCU (v3.4), two writers synchronizing concurrently",
            config: ORACLE,
        },
        Variant {
            name: "classic-straggler",
            expected: Expected::Passes,
            summary: "classic SRCU, one writer twice: the straggler that breaks naive SRCU (B1')",
            config: ORACLE,
        },
        Variant {
            name: "tree",
            expected: Expected::Passes,
            summary: "tree SRCU (v6.0), two writers synchronizing concurrently (upstream KVM)",
            config: ORACLE,
        },
        Variant {
            name: "tree-straggler",
            expected: Expected::Passes,
            summary: "tree SRCU, one writer twice: the straggler that breaks naive SRCU (B1')",
            config: ORACLE,
        },
        Variant {
            name: "fixed",
            expected: Expected::Passes,
            summary: "the patch: tree SRCU, synchronize_srcu inside kvm->lock",
            config: ORACLE,
        },
        Variant {
            name: "classic-2.6",
            expected: Expected::Passes,
            summary: "classic SRCU (2.6.19-v3.3, synchronize_sched based), two writers: the \
                      second may exit early after two flips",
            config: ORACLE,
        },
        Variant {
            name: "classic-2.6-straggler",
            expected: Expected::Passes,
            summary: "classic SRCU (2.6.19-v3.3), one writer twice: synchronize_sched after the \
                      flip rules the straggler out",
            config: ORACLE,
        },
        Variant {
            name: "early-exit-1",
            expected: Expected::FailsWith(super::LIFETIME),
            summary: "classic SRCU (2.6.19-v3.3) exiting early after one flip, not two (B3): a \
                      reader on the new index may still see the old filter (lkmm)",
            config: MIGRATE.with_memory(MemoryModel::Lkmm),
        },
        Variant {
            name: "early-exit-1-sc",
            expected: Expected::Passes,
            summary: "the same under sc: every reader that sees the flip sees the new filter",
            config: ORACLE.with_memory(MemoryModel::Sc),
        },
        Variant {
            name: "small-counters",
            expected: Expected::FailsWith(&[
                FailureKind::GracePeriodViolation,
                FailureKind::UseAfterFree,
                FailureKind::DataRace,
            ]),
            summary: "no kernel: 2-bit lock/unlock counters and callers flipping while another \
                      scans: the counters wrap under a vCPU's repeated entries (B4)",
            config: ORACLE,
        },
        Variant {
            name: "small-counters-serialized",
            expected: Expected::Passes,
            summary: "the same counters, callers serialized (sc): the index holds still during a \
                      scan, and three vCPUs add at most three locks to it",
            config: ORACLE.with_memory(MemoryModel::Sc),
        },
        Variant {
            name: "small-counters-wide",
            expected: Expected::Passes,
            summary: "callers unserialized, counters that do not wrap: each caller scans both \
                      indices, so the wrap is the bug, not the concurrency",
            config: ORACLE,
        },
        Variant {
            name: "srcu-barrier",
            expected: Expected::FailsWith(super::LIFETIME),
            summary: "tree SRCU, srcu_barrier where a grace period is needed: no callback queued, \
                      no wait (B5)",
            config: MIGRATE,
        },
    ],
    body: super::Body::new(body),
};

/// Every variant: vCPU threads are preempted and migrate like any task, so a read-side section
/// may end on another CPU than it began on.
const MIGRATE: Config = KERNEL.with_srcu_migration(true);

const ORACLE: Config = MIGRATE.with_gp_oracle(true);

const QUICK: usize = 12;

crate::kstruct! {
    /// `struct kvm`: the fields the filter update touches.
    struct Kvm("kvm") {
        lock: Mutex,
        pmu_event_filter: Word<KvmPmuEventFilter>,
    }
}

crate::kstruct! {
    /// `struct kvm_pmu_event_filter`, with room for three events.
    struct KvmPmuEventFilter("kvm_pmu_event_filter") {
        action: Word<u64>,
        nevents: Word<u64>,
        events0: Word<u64>,
        events1: Word<u64>,
        events2: Word<u64>,
    }
}

const KVM_PMU_EVENT_ALLOW: u64 = 0;
const KVM_PMU_EVENT_DENY: u64 = 1;

/// What differs between the variants.
#[derive(Clone, Copy)]
struct Setup {
    flavor: SrcuFlavor,
    /// Hao's patch: `synchronize_srcu_expedited` before `mutex_unlock(&kvm->lock)`.
    sync_under_lock: bool,
    /// Two writer CPUs; otherwise one writer that sets the filter twice.
    two_writers: bool,
    /// `srcu_barrier` instead of `synchronize_srcu_expedited` (B5).
    barrier: bool,
    /// Exits per vCPU handled without the PMU filter, after its two that reprogram a counter:
    /// each retakes and leaves the read side.
    quick_exits: usize,
}

fn setup(variant: &str) -> Setup {
    let barrier = variant == "srcu-barrier";
    let (flavor, sync_under_lock, two_writers) = match variant {
        "buggy" => (SrcuFlavor::Naive, false, true),
        "naive-straggler" => (SrcuFlavor::Naive, false, false),
        "naive-fixed" => (SrcuFlavor::Naive, true, true),
        "classic" => (SrcuFlavor::Classic, false, true),
        "classic-straggler" => (SrcuFlavor::Classic, false, false),
        "tree-straggler" => (SrcuFlavor::Tree, false, false),
        "tree" => (SrcuFlavor::Tree, false, true),
        "fixed" => (SrcuFlavor::Tree, true, true),
        "srcu-barrier" => (SrcuFlavor::Tree, false, true),
        "classic-2.6" => (SrcuFlavor::ClassicSched, false, true),
        "classic-2.6-straggler" => (SrcuFlavor::ClassicSched, false, false),
        "early-exit-1" | "early-exit-1-sc" => (SrcuFlavor::ClassicSchedEarlyExit, false, true),
        "small-counters" => (SrcuFlavor::SmallCounters, false, true),
        "small-counters-serialized" => (SrcuFlavor::SmallCountersSerialized, false, true),
        "small-counters-wide" => (SrcuFlavor::SmallCountersWide, false, true),
        other => unreachable!("variant {other} is not in HARNESS"),
    };
    // Enough exits for a vCPU to wrap the 2-bit counters during one scan.
    let quick_exits = if variant.starts_with("small-counters") {
        QUICK
    } else {
        0
    };
    Setup {
        flavor,
        sync_under_lock,
        two_writers,
        barrier,
        quick_exits,
    }
}

fn body(variant: &'static str) {
    let s = setup(variant);
    let srcu = init_srcu_struct(s.flavor);
    let kvm: Kvm = kzalloc();
    mutex_init(kvm.lock());
    let f1 = new_filter(KVM_PMU_EVENT_ALLOW);
    rcu_assign_pointer(kvm.pmu_event_filter(), f1);

    let vcpu0 = spawn_cpu("vcpu0", move || vcpu_run(kvm, srcu, s.quick_exits));
    let vcpu1 = spawn_cpu("vcpu1", move || vcpu_run(kvm, srcu, s.quick_exits));
    // Two writers, or one writer that replaces the filter twice (B1′).
    let (writer_a, writer_b) = if s.two_writers {
        let a = spawn_cpu("writer A", move || {
            kvm_vm_ioctl_set_pmu_event_filter(s, kvm, srcu, KVM_PMU_EVENT_DENY)
        });
        let b = spawn_cpu("writer B", move || {
            kvm_vm_ioctl_set_pmu_event_filter(s, kvm, srcu, KVM_PMU_EVENT_ALLOW)
        });
        (a, Some(b))
    } else {
        let w = spawn_cpu("writer", move || {
            kvm_vm_ioctl_set_pmu_event_filter(s, kvm, srcu, KVM_PMU_EVENT_DENY);
            kvm_vm_ioctl_set_pmu_event_filter(s, kvm, srcu, KVM_PMU_EVENT_ALLOW);
        });
        (w, None)
    };
    // B4: a third vCPU, one more reader whose section may straddle a scan's two sums.
    let vcpu2 = (s.quick_exits > 0).then(|| spawn_cpu("vcpu2", move || vcpu_run(kvm, srcu, s.quick_exits)));
    vcpu0.join();
    vcpu1.join();
    if let Some(v) = vcpu2 {
        v.join();
    }
    writer_a.join();
    if let Some(b) = writer_b {
        b.join();
    }
    // kvm_destroy_vm.
    kfree(kvm.pmu_event_filter().load());
    kfree(kvm);
    cleanup_srcu_struct(srcu);
}

/// Userspace's filter, copied and sorted before any lock is taken.
fn new_filter(action: u64) -> KvmPmuEventFilter {
    let f: KvmPmuEventFilter = kzalloc();
    f.action().store(action);
    f.nevents().store(3);
    f.events0().store(0x2e);
    f.events1().store(0x3c);
    f.events2().store(0xc0);
    f
}

/// `vcpu_run`: the vCPU holds `kvm->srcu` except while the guest runs (`vcpu_enter_guest` drops
/// and retakes it around VM entry); it reprograms a counter in each of two rounds, then handles
/// `quick_exits` exits that do not look at the filter.
fn vcpu_run(kvm: Kvm, srcu: SrcuStruct, quick_exits: usize) {
    let _f = KFunc::enter("vcpu_run");
    for eventsel in [0x3c, 0xc0] {
        let idx = srcu_read_lock(srcu);
        let _allowed = check_pmu_event_filter(kvm, srcu, eventsel);
        srcu_read_unlock(srcu, idx); // VM entry: the guest runs outside the read side
    }
    for _ in 0..quick_exits {
        let idx = srcu_read_lock(srcu);
        srcu_read_unlock(srcu, idx);
    }
}

/// `kvm_vm_ioctl_set_pmu_event_filter` (v6.0): publish under `kvm->lock`, wait for readers of
/// the old filter, free it.
fn kvm_vm_ioctl_set_pmu_event_filter(s: Setup, kvm: Kvm, srcu: SrcuStruct, action: u64) {
    let _f = KFunc::enter("kvm_vm_ioctl_set_pmu_event_filter");
    let filter = new_filter(action);

    mutex_lock(kvm.lock());
    let old = rcu_dereference_protected(kvm.pmu_event_filter());
    rcu_assign_pointer(kvm.pmu_event_filter(), filter);
    if s.sync_under_lock {
        synchronize_srcu_expedited(srcu);
        mutex_unlock(kvm.lock());
    } else {
        mutex_unlock(kvm.lock());
        if s.barrier {
            srcu_barrier(srcu);
        } else {
            synchronize_srcu_expedited(srcu);
        }
    }
    kfree(old);
}

/// `check_pmu_event_filter`, on a vCPU inside `srcu_read_lock(&kvm->srcu)`.
fn check_pmu_event_filter(kvm: Kvm, srcu: SrcuStruct, eventsel: u64) -> bool {
    let _f = KFunc::enter("check_pmu_event_filter");
    let filter = srcu_dereference(kvm.pmu_event_filter(), srcu);
    if filter.is_null() {
        return true;
    }
    let action = filter.action().load();
    // bsearch over the sorted events[] (three entries: the middle one, then one side).
    let nevents = filter.nevents().load();
    let mid = filter.events1().load();
    let found = nevents == 3
        && (mid == eventsel
            || if eventsel < mid {
                filter.events0().load() == eventsel
            } else {
                filter.events2().load() == eventsel
            });
    (action == KVM_PMU_EVENT_ALLOW) == found
}
