//! `notifier_partial_init`: an `mmu_notifier` published by `mmu_notifier_get()` before its driver
//! has finished initializing it, and what an invalidation walking it must do to see the
//! initialization.
//!
//! Thread: "Re: [PATCH v4 01/26] mm/mmu_notifiers: pass private data down to alloc_notifier()",
//! Jean-Philippe Brucker (JPB) and Jason Gunthorpe, iommu and linux-arm-kernel, February 2020
//! (`docs/notifier_partial_init.md`: the thread, the kernel code, the interleavings, what the
//! kernel memory model says, the oracles; no archive link was found, the page says where to
//! search).
//!
//! The core is v5.5/v5.6 `mm/mmu_notifier.c`: `mmu_notifier_get()` takes `mmap_sem` for writing,
//! asks the driver's `alloc_notifier(mm)` for a notifier, sets `mn->ops`, and
//! `__mmu_notifier_register()` publishes it with `hlist_add_head_rcu()` under
//! `mm_take_all_locks()` and the list's spinlock. An invalidation (here reclaim, holding the
//! `anon_vma` lock that `mm_take_all_locks()` also takes) walks the list with
//! `hlist_for_each_entry_rcu()` inside `srcu_read_lock()` and calls each notifier. JPB's SVA
//! library embeds the notifier in an `io_mm` that `alloc_notifier` can only half fill: after
//! `mmu_notifier_get()` returns, `io_mm_finalize()` sets `ops`, `ctx`, `pasid` (plain stores, his
//! (1)), and `io_mm_attach()` adds a bond with `list_add_rcu()` (his (2)). The invalidation walks
//! `io_mm->devices` and, for each bond, calls `io_mm->ops->invalidate(dev, pasid, ctx, ...)`. JPB:
//! the callback must re-load the io_mm from the bond, `io_mm = rcu_dereference(bond->io_mm)` (3),
//! so that the fields are address-dependent on the bond. Jason: "A rcu_dereference isn't need
//! here, just a normal derference is fine", "list_for_each_entry_rcu() is an acquire", "But this
//! is super tricky". JPB: then initialize before publishing, and none of it is needed.
//!
//! Without (3), the loads of the fields depend on nothing the walk loaded: a weakly ordered CPU
//! may satisfy them before (1) reaches it while the walk already returns the bond (steps as in
//! `docs/notifier_partial_init.md`, G1–G3 and I1–I6):
//!
//! ```text
//! CPU1 bind                                   CPU2 reclaim
//! G1 mmu_notifier_get: down_write(mmap_sem)
//!    io_mm_alloc: A = kzalloc (ops, ctx NULL)
//!    mm_take_all_locks; hlist_add_head_rcu(A)
//!    mm_drop_all_locks; up_write(mmap_sem)
//!                                             anon_vma_lock_read
//!                                             I1 srcu_read_lock
//!                                             I2 hlist_for_each_entry_rcu: A's notifier
//!                                             I3 io_mm_invalidate: A = container_of(mn)
//! G2 io_mm_finalize: A->ops, A->ctx, A->pasid
//! G3 io_mm_attach: list_add_rcu(bond)  (REL)
//!                                             I4 list_for_each_entry_rcu: bond (reads G3)
//!                                             I5 A->pasid, A->ctx, A->ops: plain loads with no
//!                                                dependency on bond: may read before G2
//!                                             I6 A->ops->invalidate: NULL call, or pasid 0
//! ```
//!
//! Under sequential consistency I5 sees G2 (it follows I4, which saw G3); what remains is the data
//! race of I5's plain loads with G2's plain stores, which no happens-before orders (the release at
//! G3 is read by I4's `rcu_dereference`, which acquires nothing, and A was reached through I2,
//! whose release came before G2).
//!
//! kgrace's answer: JPB is right, in the formal model and on the machine. Without (3) KCSAN
//! reports the race under both memory models, and with KCSAN off the weak-memory model reaches the
//! NULL `ops` call or an invalidation with the wrong PASID, which sequential consistency never
//! does. With `rcu_dereference(bond->io_mm)` (3) both pass. Jason's plain dereference at (3)
//! keeps the address dependency on the machine (with KCSAN off it passes under `lkmm`), but LKMM
//! calls it a data race (a plain load ordered only through another plain load is not
//! pre-bounded), and so does kgrace. Initializing before publishing (JPB's patch, and what the
//! merged arm-smmu-v3-sva code does) passes under both.
//!
//! Variants:
//! * `buggy`: JPB's pre-patch design, the fields read through the callback's argument: the data
//!   race (KCSAN), under `sc` and `lkmm`. KCSAN reports it on the very load that may read stale,
//!   so it is always the first symptom.
//! * `buggy-kcsan-off`: the same code without KCSAN, pinned to `lkmm`: the NULL `ops` call or
//!   `ctx` dereference, or O4.1 (a `pasid` the binder never wrote).
//! * `buggy-kcsan-off-sc`: the same again, pinned to `sc`: passes (no symptom under sequential
//!   consistency; `buggy-kcsan-off` is its mutant).
//! * `deref-chain`: fix (i), (3) as JPB wrote it: passes under both.
//! * `plain-chain`: (3) as Jason suggested, a plain load: the data race LKMM reports.
//! * `plain-chain-kcsan-off`: the same without KCSAN: passes under both, the dependency holds.
//! * `init-before-publish`: fix (ii), `ops`, `ctx`, `pasid` set in `alloc_notifier` (with
//!   private data): passes under both.
//!
//! Mutants (each passing variant with its mechanism removed; `tests/verdicts.rs` checks the
//! pairs): `deref-chain` without (3) is `buggy` (and `buggy-kcsan-off`), with (3) unmarked it is
//! `plain-chain`; `init-before-publish` with the initialization after publication is `buggy`;
//! `plain-chain-kcsan-off` without (3) is `buggy-kcsan-off`; `buggy-kcsan-off-sc` under weak
//! memory is `buggy-kcsan-off`.
//!
//! Oracles: O4.1 is a `WARN_ON` in the driver's callback (the PASID the binder wrote); a NULL
//! `ops` or `ctx` faults by itself; O4.2 is the race detector. O4.3 (no invalidation skipped once
//! the bond is visible) holds by construction in these variants: the walk calls the callback for
//! every bond it finds, or faults.
//!
//! What the model leaves out: one device binds while reclaim runs (a second bind, which finds the
//! io_mm through `find_get_mmu_notifier`, runs after it). With two bonds in `io_mm->devices`, the
//! second is reached through the first's `next`, written plainly by `list_add_rcu` before its
//! release; LKMM orders that (the `rcu_dereference` of `next` is address-dependent on the first
//! bond, which the walk reached from the release), but kgrace's race detector pre-bounds an
//! access by the one marked load that produced its pointer, not by the chain before it, and
//! would report a race that is not there. `mm_take_all_locks` is the mm's one `anon_vma` lock;
//! `mmgrab`, the interval tree and `invalidate_range_end` are not modeled.

use super::{Config, Expected, Harness, MemoryModel, Variant};
use crate::kernel::*;
use crate::FailureKind;

/// The v5.5 kernel's configuration: its mutexes have v4.10's orderings (acquire, release).
const KERNEL: Config = Config::DEFAULT.with_mutex_acquire_release(true);

pub(super) const HARNESS: Harness = Harness {
    name: "notifier_partial_init",
    thread: "003 mm/mmu_notifiers: pass private data down to alloc_notifier() (2020)",
    question: "may mmu_notifier_get() publish an io_mm its driver finalizes afterwards, if the \
               invalidation reads the fields through the callback argument, through \
               rcu_dereference(bond->io_mm), or through a plain bond->io_mm?",
    variants: &[
        Variant {
            name: "buggy",
            expected: Expected::Fails(FailureKind::DataRace),
            summary: "io_mm finalized after publication; the invalidation reads ops/ctx/pasid \
                      through the callback argument",
            config: KERNEL,
        },
        Variant {
            name: "buggy-kcsan-off",
            expected: Expected::FailsWith(WEAK_SYMPTOMS),
            summary: "the same, KCSAN off, under lkmm: NULL ops call, NULL ctx, or O4.1 (a pasid \
                      the binder never wrote)",
            config: KCSAN_OFF.with_memory(MemoryModel::Lkmm),
        },
        Variant {
            name: "buggy-kcsan-off-sc",
            expected: Expected::Passes,
            summary: "the same, KCSAN off, under sc: no symptom without weak memory",
            config: KCSAN_OFF.with_memory(MemoryModel::Sc),
        },
        Variant {
            name: "deref-chain",
            expected: Expected::Passes,
            summary: "fix (i): io_mm = rcu_dereference(bond->io_mm), fields read through it",
            config: KERNEL,
        },
        Variant {
            name: "plain-chain",
            expected: Expected::Fails(FailureKind::DataRace),
            summary: "(3) as a plain bond->io_mm: LKMM's data race (not pre-bounded)",
            config: KERNEL,
        },
        Variant {
            name: "plain-chain-kcsan-off",
            expected: Expected::Passes,
            summary: "the plain (3), KCSAN off: the address dependency still orders the loads",
            config: KCSAN_OFF,
        },
        Variant {
            name: "init-before-publish",
            expected: Expected::Passes,
            summary: "fix (ii): ops/ctx/pasid set in alloc_notifier, before publication",
            config: KERNEL,
        },
    ],
    body: super::Body::new(body),
};

/// What the posted code does on a weakly ordered CPU once KCSAN is out of the way: a NULL `ops`
/// or `ctx` dereference, or O4.1's warning.
const WEAK_SYMPTOMS: &[FailureKind] = &[FailureKind::NullDeref, FailureKind::Bug];

const KCSAN_OFF: Config = KERNEL.with_kcsan(false);

/// The PASID the binder allocates for the mm (never 0: PASID 0 is reserved).
const PASID: u64 = 0x2a;
/// The ASID of the SMMU context for the mm.
const ASID: u64 = 7;
/// Pages of the mm reclaim unmaps.
const PAGES: usize = 4;
/// The range reclaim invalidates.
const START: u64 = 0x7f00_0000;
const END: u64 = 0x7f00_1000;
/// Function pointers, as the words that hold them.
const IO_MM_INVALIDATE: u64 = 0xf1;
const ARM_SMMU_MM_INVALIDATE: u64 = 0xf2;

/// How `io_mm_invalidate` reaches the io_mm of a bond.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Reload {
    /// The callback's argument, `container_of(mn)`: no dependency on the bond.
    Argument,
    /// `rcu_dereference(bond->io_mm)`: a marked load, address-dependent on the bond (JPB's (3)).
    RcuDereference,
    /// `bond->io_mm`: a plain load, address-dependent on the bond (Jason's (3)).
    Plain,
}

/// What differs between the variants.
#[derive(Clone, Copy)]
struct Scheme {
    /// `alloc_notifier` sets `ops`, `ctx`, `pasid` (with private data) before publication.
    init_before_publish: bool,
    reload: Reload,
}

fn scheme(variant: &str) -> Scheme {
    let s = |init_before_publish, reload| Scheme {
        init_before_publish,
        reload,
    };
    match variant {
        "buggy" | "buggy-kcsan-off" | "buggy-kcsan-off-sc" => s(false, Reload::Argument),
        "deref-chain" => s(false, Reload::RcuDereference),
        "plain-chain" | "plain-chain-kcsan-off" => s(false, Reload::Plain),
        "init-before-publish" => s(true, Reload::Argument),
        other => unreachable!("variant {other} is not in HARNESS"),
    }
}

crate::kstruct! {
    /// `struct mm_struct`: the fields the notifiers use.
    struct MmStruct("mm_struct") {
        mmap_sem: RwSemaphore,
        mmu_notifier_mm: Word<MmuNotifierMm>,
    }
}

crate::kstruct! {
    /// `struct mmu_notifier_mm` (renamed `mmu_notifier_subscriptions` in v5.7).
    struct MmuNotifierMm("mmu_notifier_mm") {
        list: HlistHead,
        lock: Spinlock,
    }
}

crate::kstruct! {
    /// `struct anon_vma` of the mm's one anonymous mapping: the lock an rmap walk holds, and one
    /// of those `mm_take_all_locks()` takes.
    struct AnonVma("anon_vma") {
        rwsem: RwSemaphore,
    }
}

crate::kstruct! {
    /// `struct mmu_notifier_ops`: the callback the invalidation walk calls (a function pointer;
    /// the others are called directly here).
    struct MmuNotifierOps("mmu_notifier_ops") {
        invalidate_range_start: Word<u64>,
    }
}

/// `struct mmu_notifier`, embedded in the driver's object: `hlist` (its node in the mm's list),
/// `ops`, `mm`, `users` (the get/put count, under the list's lock).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct MmuNotifier(Ptr);

impl Embed for MmuNotifier {
    const SLOTS: &'static [&'static str] = &["hlist.next", "hlist.pprev", "ops", "mm", "users"];
    fn at(base: Ptr) -> Self {
        MmuNotifier(base)
    }
}

impl MmuNotifier {
    /// `hlist_entry(node, struct mmu_notifier, hlist)`: `hlist` is the first member.
    fn from_hlist(node: HlistNode) -> Self {
        MmuNotifier(node.addr())
    }
    fn addr(self) -> Ptr {
        self.0
    }
    fn hlist(self) -> HlistNode {
        HlistNode::at(self.0)
    }
    fn ops(self) -> Word<MmuNotifierOps> {
        Word::at(self.0.add(2))
    }
    fn mm(self) -> Word<MmStruct> {
        Word::at(self.0.add(3))
    }
    fn users(self) -> Word<u64> {
        Word::at(self.0.add(4))
    }
}

crate::kstruct! {
    /// JPB's `struct io_mm`: the notifier, the RCU list of bonds, and what the driver finalizes.
    struct IoMm("io_mm") {
        notifier: MmuNotifier,
        devices: ListHead,
        ops: Word<IoMmOps>,
        ctx: Word<SmmuCtx>,
        pasid: Word<u64>,
    }
}

crate::kstruct! {
    /// The driver's `io_mm` callbacks (`struct io_mm_ops`).
    struct IoMmOps("io_mm_ops") {
        invalidate: Word<u64>,
    }
}

crate::kstruct! {
    /// `struct iommu_bond`: a device bound to the io_mm.
    struct IommuBond("iommu_bond") {
        dev: Word<u64>,
        /// `__rcu`.
        io_mm: Word<IoMm>,
        mm_head: ListHead,
    }
}

crate::kstruct! {
    /// The SMMU driver's context for the mm (`io_mm->ctx`), set up before the bind so that only
    /// the three io_mm fields are in question.
    struct SmmuCtx("arm_smmu_ctx") {
        asid: Word<u64>,
    }
}

/// What the two CPUs share.
#[derive(Clone, Copy)]
struct Globals {
    mm: MmStruct,
    anon_vma: AnonVma,
    srcu: SrcuStruct,
    mn_ops: MmuNotifierOps,
    io_mm_ops: IoMmOps,
    ctx: SmmuCtx,
}

fn body(variant: &'static str) {
    let s = scheme(variant);
    // DEFINE_STATIC_SRCU(srcu) in mm/mmu_notifier.c: tree SRCU.
    let srcu = init_srcu_struct(SrcuFlavor::Tree);
    let mm: MmStruct = define_static();
    init_rwsem(mm.mmap_sem());
    let anon_vma: AnonVma = define_static();
    init_rwsem(anon_vma.rwsem());
    // The const ops tables.
    let mn_ops: MmuNotifierOps = define_static();
    mn_ops.invalidate_range_start().store(IO_MM_INVALIDATE);
    let io_mm_ops: IoMmOps = define_static();
    io_mm_ops.invalidate().store(ARM_SMMU_MM_INVALIDATE);
    let ctx: SmmuCtx = define_static();
    ctx.asid().store(ASID);
    let g = Globals {
        mm,
        anon_vma,
        srcu,
        mn_ops,
        io_mm_ops,
        ctx,
    };

    // One device binds the mm while reclaim invalidates ranges of it.
    let bind = spawn_cpu("bind", move || iommu_sva_bind_device(s, g, 0, true));
    // shrink_page_list: two pages of the mm unmapped, each invalidated on its own.
    let reclaim = spawn_cpu("reclaim", move || {
        for _ in 0..PAGES {
            try_to_unmap_one(s, g);
        }
    });
    bind.join();
    reclaim.join();
    // A second device binds afterwards: mmu_notifier_get finds the io_mm (users 2). It runs alone,
    // so that every walk of io_mm->devices during the race meets one bond, reached from the head
    // (see the module docs, "What the model leaves out").
    iommu_sva_bind_device(s, g, 1, false);

    // Unbind both devices once every CPU is done (no reader left: the SRCU callbacks run at once).
    let mmn_mm = mm.mmu_notifier_mm().load();
    let mn = MmuNotifier::from_hlist(HlistNode::from_ptr(mmn_mm.list().first().load()));
    let io_mm = crate::container_of!(mn.addr(), IoMm, notifier);
    for node in list_for_each_safe(io_mm.devices()) {
        list_del_rcu(node);
        kfree(crate::container_of!(node.addr(), IommuBond, mm_head));
    }
    mmu_notifier_put(g, mn);
    mmu_notifier_put(g, mn);
    // mmdrop: __mmu_notifier_mm_destroy.
    kfree(mmn_mm);
    cleanup_srcu_struct(srcu);
}

// ---- The binder (CPU1): JPB's iommu_sva_bind_device, steps G1-G3. ----

/// `iommu_sva_bind_device(dev, mm)`: `io_mm_get` (G1, and G2 for a new io_mm), then
/// `io_mm_attach` (G3). JPB's code tells a new io_mm apart under its own lock; with one binder,
/// its first bind is the one that creates it.
fn iommu_sva_bind_device(s: Scheme, g: Globals, dev: u64, new: bool) {
    let _f = KFunc::enter("iommu_sva_bind_device");
    // G1
    let mn = mmu_notifier_get(s, g);
    let io_mm = crate::container_of!(mn.addr(), IoMm, notifier);
    // G2
    if new && !s.init_before_publish {
        io_mm_finalize(g, io_mm);
    }
    // G3
    io_mm_attach(io_mm, dev);
}

/// `mmu_notifier_get(ops, mm)`.
fn mmu_notifier_get(s: Scheme, g: Globals) -> MmuNotifier {
    let _f = KFunc::enter("mmu_notifier_get");
    down_write(g.mm.mmap_sem());
    let mn = mmu_notifier_get_locked(s, g);
    up_write(g.mm.mmap_sem());
    mn
}

/// `mmu_notifier_get_locked(ops, mm)`, `mmap_sem` held for writing.
fn mmu_notifier_get_locked(s: Scheme, g: Globals) -> MmuNotifier {
    let _f = KFunc::enter("mmu_notifier_get_locked");
    if !g.mm.mmu_notifier_mm().load().is_null() {
        if let Some(mn) = find_get_mmu_notifier(g) {
            return mn;
        }
    }
    // ops->alloc_notifier(mm)
    let mn = io_mm_alloc(s, g);
    mn.ops().store(g.mn_ops);
    __mmu_notifier_register(g, mn);
    mn
}

/// `find_get_mmu_notifier(mm, ops)`: a notifier with these ops, its `users` raised under the lock.
fn find_get_mmu_notifier(g: Globals) -> Option<MmuNotifier> {
    let _f = KFunc::enter("find_get_mmu_notifier");
    let mmn_mm = g.mm.mmu_notifier_mm().load();
    spin_lock(mmn_mm.lock());
    for node in hlist_for_each_entry_rcu(mmn_mm.list()) {
        let mn = MmuNotifier::from_hlist(node);
        if mn.ops().load() != g.mn_ops {
            continue;
        }
        let users = mn.users().load();
        mn.users().store(users + 1);
        spin_unlock(mmn_mm.lock());
        return Some(mn);
    }
    spin_unlock(mmn_mm.lock());
    None
}

/// `__mmu_notifier_register(mn, mm)`: the mm's notifier list allocated and published (release)
/// on first use; the notifier added with `hlist_add_head_rcu` under `mm_take_all_locks` and the
/// list's lock. From `mm_drop_all_locks` on, invalidations may call it.
fn __mmu_notifier_register(g: Globals, mn: MmuNotifier) {
    let _f = KFunc::enter("__mmu_notifier_register");
    let mut new_mm = MmuNotifierMm::NULL;
    if g.mm.mmu_notifier_mm().load().is_null() {
        new_mm = kmalloc();
        init_hlist_head(new_mm.list());
        spin_lock_init(new_mm.lock());
    }
    mm_take_all_locks(g);
    if !new_mm.is_null() {
        smp_store_release(g.mm.mmu_notifier_mm(), new_mm);
    }
    // mmgrab(mm): the mm is static here.
    mn.mm().store(g.mm);
    mn.users().store(1);
    let mmn_mm = g.mm.mmu_notifier_mm().load();
    spin_lock(mmn_mm.lock());
    hlist_add_head_rcu(mn.hlist(), mmn_mm.list());
    spin_unlock(mmn_mm.lock());
    mm_drop_all_locks(g);
}

/// `mm_take_all_locks(mm)`: every `i_mmap_rwsem` and `anon_vma` lock of the mm; here its one
/// `anon_vma`.
fn mm_take_all_locks(g: Globals) {
    let _f = KFunc::enter("mm_take_all_locks");
    down_write(g.anon_vma.rwsem());
}

/// `mm_drop_all_locks(mm)`.
fn mm_drop_all_locks(g: Globals) {
    let _f = KFunc::enter("mm_drop_all_locks");
    up_write(g.anon_vma.rwsem());
}

/// The `alloc_notifier` of JPB's SVA library, `io_mm_alloc(mm)`: a zeroed io_mm with an empty
/// device list. With his patch (`init-before-publish`), `alloc_notifier(mm, privdata)` sets the
/// fields too.
fn io_mm_alloc(s: Scheme, g: Globals) -> MmuNotifier {
    let _f = KFunc::enter("io_mm_alloc");
    let io_mm: IoMm = kzalloc();
    init_list_head(io_mm.devices());
    if s.init_before_publish {
        io_mm.ops().store(g.io_mm_ops);
        io_mm.ctx().store(g.ctx);
        io_mm.pasid().store(PASID);
    }
    io_mm.notifier()
}

/// `io_mm_finalize(io_mm)`, JPB's (1): plain stores, after publication.
fn io_mm_finalize(g: Globals, io_mm: IoMm) {
    let _f = KFunc::enter("io_mm_finalize");
    io_mm.ops().store(g.io_mm_ops);
    io_mm.ctx().store(g.ctx);
    io_mm.pasid().store(PASID);
}

/// `io_mm_attach(io_mm, dev)`, JPB's (2): a new bond, published in `io_mm->devices` with
/// `list_add_rcu` (a release).
fn io_mm_attach(io_mm: IoMm, dev: u64) {
    let _f = KFunc::enter("io_mm_attach");
    let bond: IommuBond = kzalloc();
    bond.dev().store(dev);
    rcu_init_pointer(bond.io_mm(), io_mm);
    list_add_rcu(bond.mm_head(), io_mm.devices());
}

// ---- The invalidation (CPU2): reclaim unmapping a page of the mm, steps I1-I6. ----

/// `try_to_unmap_one` on the rmap walk: under the `anon_vma` lock, the range is invalidated
/// before the PTE is cleared.
fn try_to_unmap_one(s: Scheme, g: Globals) {
    let _f = KFunc::enter("try_to_unmap_one");
    // rmap_walk_anon: anon_vma_lock_read
    down_read(g.anon_vma.rwsem());
    mmu_notifier_invalidate_range_start(s, g);
    // ptep_clear_flush, mmu_notifier_invalidate_range_end: not modeled.
    up_read(g.anon_vma.rwsem());
}

/// `mmu_notifier_invalidate_range_start(range)`: `mm_has_notifiers(mm)` is a plain load, ordered
/// after the registration by the `anon_vma` lock.
fn mmu_notifier_invalidate_range_start(s: Scheme, g: Globals) {
    let _f = KFunc::enter("mmu_notifier_invalidate_range_start");
    let mmn_mm = g.mm.mmu_notifier_mm().load();
    if mmn_mm.is_null() {
        return;
    }
    if !hlist_empty(mmn_mm.list()) {
        mn_hlist_invalidate_range_start(s, g, mmn_mm);
    }
}

/// `mn_hlist_invalidate_range_start(mmn_mm, range)`: I1 `srcu_read_lock`, I2 the walk, each
/// notifier's `invalidate_range_start` called, I7 `srcu_read_unlock`.
fn mn_hlist_invalidate_range_start(s: Scheme, g: Globals, mmn_mm: MmuNotifierMm) {
    let _f = KFunc::enter("mn_hlist_invalidate_range_start");
    let id = srcu_read_lock(g.srcu);
    for node in hlist_for_each_entry_rcu(mmn_mm.list()) {
        let mn = MmuNotifier::from_hlist(node);
        let f = mn.ops().load().invalidate_range_start().load();
        match f {
            0 => {}
            IO_MM_INVALIDATE => io_mm_invalidate(s, mn, START, END),
            f => bug_on(
                true,
                &format!("invalidate_range_start = {f:#x}: no such function"),
            ),
        }
    }
    srcu_read_unlock(g.srcu, id);
}

/// JPB's `io_mm_invalidate(mn, start, end)`: I3 the io_mm from the argument, I4 the bonds, I5 the
/// fields, I6 the driver's callback.
fn io_mm_invalidate(s: Scheme, mn: MmuNotifier, start: u64, end: u64) {
    let _f = KFunc::enter("io_mm_invalidate");
    // I3
    let arg = crate::container_of!(mn.addr(), IoMm, notifier);
    // I4
    for node in list_for_each_entry_rcu(arg.devices()) {
        let bond = crate::container_of!(node.addr(), IommuBond, mm_head);
        // (3)
        let io_mm = match s.reload {
            Reload::Argument => arg,
            Reload::RcuDereference => rcu_dereference(bond.io_mm()),
            Reload::Plain => bond.io_mm().load(),
        };
        let dev = bond.dev().load();
        // I5
        let pasid = io_mm.pasid().load();
        let ctx = io_mm.ctx().load();
        let ops = io_mm.ops().load();
        // I6: io_mm->ops->invalidate(dev, pasid, ctx, start, end - start)
        match ops.invalidate().load() {
            ARM_SMMU_MM_INVALIDATE => arm_smmu_mm_invalidate(dev, pasid, ctx, start, end - start),
            f => bug_on(
                true,
                &format!("io_mm->ops->invalidate = {f:#x}: no such function"),
            ),
        }
    }
}

/// The SMMU driver's callback: invalidate the device's TLB entries for `pasid` in the range.
/// O4.1: the PASID is the one the binder wrote.
fn arm_smmu_mm_invalidate(dev: u64, pasid: u64, ctx: SmmuCtx, _start: u64, _size: u64) {
    let _f = KFunc::enter("arm_smmu_mm_invalidate");
    warn_on(
        pasid != PASID,
        &format!(
            "O4.1: invalidation for dev{dev} with pasid {pasid:#x}, a value the binder never wrote \
             (it wrote {PASID:#x})"
        ),
    );
    // arm_smmu_tlb_inv_range_asid(ctx->asid, ...): the command itself is not modeled.
    let _asid = ctx.asid().load();
}

/// `mmu_notifier_put(mn)`: drop a reference under the list's lock; the last one unlinks the
/// notifier, and `call_srcu` frees it (`free_notifier`) after a grace period: at once here, as
/// no reader is left.
fn mmu_notifier_put(g: Globals, mn: MmuNotifier) {
    let _f = KFunc::enter("mmu_notifier_put");
    let mmn_mm = g.mm.mmu_notifier_mm().load();
    spin_lock(mmn_mm.lock());
    let users = mn.users().load() - 1;
    mn.users().store(users);
    if users != 0 {
        spin_unlock(mmn_mm.lock());
        return;
    }
    hlist_del_init_rcu(mn.hlist());
    spin_unlock(mmn_mm.lock());
    // mmu_notifier_free_rcu -> ops->free_notifier: io_mm_free.
    kfree(crate::container_of!(mn.addr(), IoMm, notifier));
}
