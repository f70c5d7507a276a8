//! `mutex_unlock_free`: HMM v3 (2015) frees a device while another CPU is still inside
//! `mutex_unlock` of the device's mutex.
//!
//! Thread: "HMM v3", linux-mm, May/June 2015, Mark Hairgrove's review of
//! `hmm_mirror_unregister`/`hmm_device_unregister`; the thread, the kernel code and the oracles
//! are in `docs/mutex_unlock_free.md`.
//!
//! CPU1 is process exit (`hmm_notifier_release`), CPU2 the driver's file close
//! (`hmm_mirror_unregister`, then `hmm_device_unregister`, then `kfree` of the device). The
//! mirror starts with two references (the `H.mirrors` list's and the driver's). Mark's
//! interleaving, down to the mutex internals:
//!
//! ```text
//! CPU1 hmm_notifier_release               CPU2 close
//! down_write(&hmm->rwsem)
//! hlist_del_init(&mirror->mlist)
//! up_write(&hmm->rwsem)
//!                                         hmm_mirror_unregister(mirror)
//!                                           kill: mlist unhashed, nothing to do
//!                                           hmm_mirror_unref: kref 2 -> 1
//! hmm_mirror_unref: kref 1 -> 0
//!   hmm_mirror_destroy
//!     mutex_lock(&device->mutex)  count 1 -> 0
//!     list_del_init(&mirror->dlist)
//!                                         hmm_device_unregister(device)
//!                                           mutex_lock: count 0 -> -1, slow path,
//!                                           optimistic spinning on the owner
//!     mutex_unlock: count -1 -> 0, slow path
//!       atomic_set(&lock->count, 1)
//!       <preempted>
//!                                           cmpxchg(count, 1, 0): acquired
//!                                           list_empty(&device->mirrors): yes
//!                                           mutex_unlock: count 0 -> 1, fast path
//!                                         kfree(device)
//!       spin_lock(&lock->wait_lock)       <- use-after-free
//! ```
//!
//! Variants (the code is the same apart from the fix):
//! * `buggy`: HMM v3, `device->mirrors` under `device->mutex`.
//! * `fixed`: HMM v4's "use spinlock for device's mirror list": `spin_unlock` is the last access
//!   of the unlocker, so once CPU2 holds the lock, CPU1 is done with the device.
//! * `debug-mutexes`: v3 under `CONFIG_DEBUG_MUTEXES`, where the unlock releases `count` inside
//!   `wait_lock` and the lock has no fast path: the window closes (Jérôme's remark).
//! * `synchronize-rcu`: Jérôme's `synchronize_rcu()` in `hmm_device_unregister` after the
//!   `mutex_unlock`: still fails, because under `CONFIG_PREEMPT` the unlock slow path is no RCU
//!   reader (Mark's reply): CPU1 is preempted at `<preempted>` above, and CPU2's grace period
//!   does not wait for it.
//! * `synchronize-rcu-nopreempt`: the same code under `!CONFIG_PREEMPT`
//!   ([`Config::preempt`] off), the common configuration of 2015: passes. CPU1 cannot be
//!   preempted inside `mutex_unlock` (nothing there sleeps; a contended `spin_lock` spins), so
//!   when CPU2's `synchronize_rcu` begins, CPU1 is running kernel code and the grace period waits
//!   for its next quiescent state, which comes after its `spin_unlock(&lock->wait_lock)`:
//!
//!   ```text
//!   CPU1 hmm_notifier_release               CPU2 close
//!       atomic_set(&lock->count, 1)
//!                                           cmpxchg(count, 1, 0): acquired
//!                                           list_empty(&device->mirrors): yes
//!                                           mutex_unlock: count 0 -> 1, fast path
//!                                           synchronize_rcu(): CPU1 runs, wait
//!       spin_lock(&lock->wait_lock)
//!       list_empty(&lock->wait_list)
//!       spin_unlock(&lock->wait_lock)
//!     ... srcu_read_unlock, return: quiescent
//!                                           synchronize_rcu() returns
//!                                           kfree(device)
//!   ```
//!
//!   CPU1's accesses to the mutex happen before the grace period's end, so the `kfree` neither
//!   races with them (KCSAN) nor precedes them (KASAN). Were CPU1 asleep when the grace period
//!   began, it would be past the unlock (nothing in it sleeps), and so quiescent already.
//! * `unlock-pre-3.15` (and `-kasan`, KCSAN off): the same code on the mutex before v3.15, whose
//!   unlock slow path released `count` only after `spin_lock(&lock->wait_lock)`. The spinner's
//!   `cmpxchg` and the fast paths still need no `wait_lock`, so the window shrinks but stays:
//!
//!   ```text
//!   CPU1 hmm_notifier_release               CPU2 close
//!       spin_lock(&lock->wait_lock)
//!       atomic_set(&lock->count, 1)
//!                                           cmpxchg(count, 1, 0): acquired
//!                                           list_empty(&device->mirrors): yes
//!                                           mutex_unlock: count 0 -> 1, fast path
//!                                         kfree(device)
//!       list_empty(&lock->wait_list)      <- use-after-free
//!       spin_unlock(&lock->wait_lock)     <- use-after-free
//!   ```
//! * `device-kref`: Mark's other proposal, a reference on the device: each mirror holds one,
//!   dropped by `hmm_mirror_destroy` after its `mutex_unlock`, and the driver drops its own
//!   instead of freeing the device; the last reference frees it. Passes: whoever frees the device
//!   has seen every unlocker's reference go, and each went after its unlock's last access.
//!   `device-kref-put-early`, its mutant, drops the mirror's reference before the
//!   `mutex_unlock`: the v3 bug again.
//! * `fixed-srcu`: v4's other change, `mmu_notifier_synchronize()` (`srcu_barrier`) between `kill`
//!   and `unref` in `hmm_mirror_unregister`, on the SRCU of 2015 (v3.5 to v4.11, whose
//!   `srcu_barrier` was `synchronize_srcu`): the close waits for an exit already inside `->release`.
//!
//! Every variant runs `hmm_notifier_release` as `mmu_notifier_release` does, inside
//! `srcu_read_lock(&srcu)` of the mmu_notifier SRCU (classic).

use super::{Config, Expected, Harness, Variant};
use crate::container_of;
use crate::kernel::*;

pub(super) const HARNESS: Harness = Harness {
    name: "mutex_unlock_free",
    thread: "002 HMM v3 (linux-mm, 2015)",
    question: "may a driver free its device once hmm_device_unregister returns, while a mirror's \
               destroy may still be inside mutex_unlock of the device's mutex?",
    variants: &[
        Variant {
            name: "buggy",
            expected: Expected::FailsWith(super::LIFETIME),
            summary: "HMM v3: device->mirrors under device->mutex; the driver frees the device \
                      when unregister returns 0",
            config: Config::DEFAULT,
        },
        Variant {
            name: "buggy-kasan",
            expected: Expected::Fails(crate::FailureKind::UseAfterFree),
            summary: "HMM v3 with KCSAN off: the unlocker's access to the freed mutex itself, \
                      as KASAN reports it",
            config: Config::DEFAULT.with_kcsan(false),
        },
        Variant {
            name: "fixed",
            expected: Expected::Passes,
            summary: "HMM v4: device->mirrors under a spinlock, whose unlock is the last access",
            config: Config::DEFAULT,
        },
        Variant {
            name: "synchronize-rcu",
            expected: Expected::FailsWith(super::LIFETIME),
            summary: "HMM v3 plus synchronize_rcu() after the mutex_unlock in hmm_device_unregister",
            config: Config::DEFAULT,
        },
        Variant {
            name: "synchronize-rcu-nopreempt",
            expected: Expected::Passes,
            summary: "synchronize-rcu under !CONFIG_PREEMPT: the grace period waits for the \
                      unlocker, which cannot sleep inside the unlock slow path",
            config: Config::DEFAULT.with_preempt(false),
        },
        Variant {
            name: "fixed-srcu",
            expected: Expected::Passes,
            summary: "HMM v4: mmu_notifier_synchronize() between kill and unref (classic SRCU)",
            config: Config {
                gp_oracle: true,
                ..Config::DEFAULT
            },
        },
        Variant {
            name: "unlock-pre-3.15",
            expected: Expected::FailsWith(super::LIFETIME),
            summary: "HMM v3 on the pre-3.15 mutex: count released inside wait_lock, still \
                      before the wait-list check and spin_unlock",
            config: Config::DEFAULT.with_mutex_unlock_pre_3_15(true),
        },
        Variant {
            name: "unlock-pre-3.15-kasan",
            expected: Expected::Fails(crate::FailureKind::UseAfterFree),
            summary: "unlock-pre-3.15 with KCSAN off: the wait-list check or spin_unlock \
                      touches the freed device (sc: under lkmm it takes more executions)",
            config: Config::DEFAULT
                .with_kcsan(false)
                .with_mutex_unlock_pre_3_15(true)
                .with_memory(crate::MemoryModel::Sc),
        },
        Variant {
            name: "device-kref",
            expected: Expected::Passes,
            summary: "Mark's alternative: each mirror holds a reference on the device, dropped \
                      after destroy's mutex_unlock; the last reference frees the device",
            config: Config::DEFAULT,
        },
        Variant {
            name: "device-kref-put-early",
            expected: Expected::FailsWith(super::LIFETIME),
            summary: "device-kref's mutant: destroy drops its device reference before its \
                      mutex_unlock",
            config: Config::DEFAULT,
        },
        Variant {
            name: "debug-mutexes",
            expected: Expected::Passes,
            summary: "HMM v3 under CONFIG_DEBUG_MUTEXES: count is released inside wait_lock",
            config: Config {
                debug_mutexes: true,
                ..Config::DEFAULT
            },
        },
    ],
    body: super::Body::new(body),
};

crate::kstruct! {
    /// `struct hmm_device`: the v3 mutex and the v4 spinlock; a variant uses one. `kref` only
    /// in the device-kref variants.
    struct HmmDevice("hmm_device") {
        mirrors: ListHead,
        mutex: Mutex,
        lock: Spinlock,
        kref: Kref,
    }
}

crate::kstruct! {
    /// `struct hmm_mirror`.
    struct HmmMirror("hmm_mirror") {
        device: Word<HmmDevice>,
        hmm: Word<Hmm>,
        kref: Kref,
        dlist: ListHead,
        mlist: HlistNode,
    }
}

crate::kstruct! {
    /// `struct hmm`, one per mm.
    struct Hmm("hmm") {
        mirrors: HlistHead,
        rwsem: RwSemaphore,
    }
}

const EBUSY: i32 = 16;

/// What differs between the variants' code.
#[derive(Clone, Copy)]
struct Fix {
    /// The device's mirror list under a spinlock (v4) instead of the mutex.
    spinlock: bool,
    /// Jérôme's `synchronize_rcu()` at the end of `hmm_device_unregister`.
    synchronize_rcu: bool,
    /// v4's `mmu_notifier_synchronize()` in `hmm_mirror_unregister`, on this SRCU.
    srcu_sync: bool,
    /// The mmu_notifier SRCU domain (`static struct srcu_struct srcu` in mm/mmu_notifier.c).
    srcu: SrcuStruct,
    /// Mark's alternative: the device is reference counted, each mirror holding a reference.
    device_kref: bool,
    /// device-kref's mutant: destroy drops the mirror's device reference before unlocking.
    put_early: bool,
}

impl Fix {
    fn lock(self, device: HmmDevice) {
        if self.spinlock {
            spin_lock(device.lock())
        } else {
            mutex_lock(device.mutex())
        }
    }
    fn unlock(self, device: HmmDevice) {
        if self.spinlock {
            spin_unlock(device.lock())
        } else {
            mutex_unlock(device.mutex())
        }
    }
}

fn body(variant: &'static str) {
    let fix = Fix {
        spinlock: variant == "fixed",
        synchronize_rcu: variant.starts_with("synchronize-rcu"),
        srcu_sync: variant == "fixed-srcu",
        srcu: init_srcu_struct(srcu_flavor(variant)),
        device_kref: variant.starts_with("device-kref"),
        put_early: variant == "device-kref-put-early",
    };

    // The driver's device and one process's hmm with one mirror, registered.
    let device: HmmDevice = kzalloc();
    init_list_head(device.mirrors());
    mutex_init(device.mutex());
    spin_lock_init(device.lock());
    kref_init(device.kref()); // the driver's reference (device-kref)
    let hmm: Hmm = kzalloc();
    init_rwsem(hmm.rwsem());
    let mirror: HmmMirror = kzalloc();
    mirror.device().store(device);
    mirror.hmm().store(hmm);
    kref_init(mirror.kref()); // the driver's reference
    init_hlist_node(mirror.mlist());
    hmm_mirror_register(fix, mirror);

    let exit = spawn_cpu("hmm_notifier_release", move || {
        // mmu_notifier_release: every notifier's ->release runs inside the SRCU read side.
        let idx = srcu_read_lock(fix.srcu);
        hmm_notifier_release(fix, hmm);
        srcu_read_unlock(fix.srcu, idx);
    });
    let close = spawn_cpu("close", move || {
        hmm_mirror_unregister(fix, mirror);
        while hmm_device_unregister(fix, device) == -EBUSY {
            cpu_relax();
        }
        if fix.device_kref {
            // The driver drops its reference; the last one, its own or a mirror's, frees it.
            hmm_device_unref(device);
        } else {
            // hmm_device_unregister returned 0: the driver frees its device.
            kfree(device);
        }
    });
    exit.join();
    close.join();
    teardown(fix, hmm);
}

/// `hmm_mirror_register`: the mirror goes on the device's list and the hmm's list, which holds a
/// reference of its own.
fn hmm_mirror_register(fix: Fix, mirror: HmmMirror) {
    let device = mirror.device().load();
    let hmm = mirror.hmm().load();
    if fix.device_kref {
        kref_get(device.kref()); // the mirror's reference on its device
    }
    fix.lock(device);
    list_add(mirror.dlist(), device.mirrors());
    fix.unlock(device);
    kref_get(mirror.kref()); // the hmm list's reference
    down_write(hmm.rwsem());
    hlist_add_head(mirror.mlist(), hmm.mirrors());
    up_write(hmm.rwsem());
}

/// `hmm_notifier_release` (mm exit): drop every mirror from the hmm.
fn hmm_notifier_release(fix: Fix, hmm: Hmm) {
    let _f = KFunc::enter("hmm_notifier_release");
    down_write(hmm.rwsem());
    while !hlist_empty(hmm.mirrors()) {
        let mirror = container_of!(hmm.mirrors().first().load(), HmmMirror, mlist);
        hlist_del_init(mirror.mlist());
        up_write(hmm.rwsem());

        // mirror->device->ops->release(mirror): the driver stops using the mirror.
        let _device = mirror.device().load();
        hmm_mirror_unref(fix, mirror);

        down_write(hmm.rwsem());
    }
    up_write(hmm.rwsem());
}

/// `hmm_mirror_unregister` (v3): kill, then drop the driver's reference.
fn hmm_mirror_unregister(fix: Fix, mirror: HmmMirror) {
    let _f = KFunc::enter("hmm_mirror_unregister");
    hmm_mirror_kill(fix, mirror);
    if fix.srcu_sync {
        // mmu_notifier_synchronize(): wait for a ->release already running.
        srcu_barrier(fix.srcu);
    }
    hmm_mirror_unref(fix, mirror);
}

/// `hmm_mirror_kill`: unhash the mirror from its hmm unless exit already did.
fn hmm_mirror_kill(fix: Fix, mirror: HmmMirror) {
    let _f = KFunc::enter("hmm_mirror_kill");
    let hmm = mirror.hmm().load();
    down_write(hmm.rwsem());
    if !hlist_unhashed(mirror.mlist()) {
        hlist_del_init(mirror.mlist());
        up_write(hmm.rwsem());
        hmm_mirror_unref(fix, mirror); // the list's reference
    } else {
        up_write(hmm.rwsem());
    }
}

fn hmm_mirror_unref(fix: Fix, mirror: HmmMirror) {
    kref_put(mirror.kref(), || hmm_mirror_destroy(fix, mirror));
}

/// `hmm_mirror_destroy` (kref release): off the device's list, then the driver frees it.
fn hmm_mirror_destroy(fix: Fix, mirror: HmmMirror) {
    let _f = KFunc::enter("hmm_mirror_destroy");
    let device = mirror.device().load();
    fix.lock(device);
    list_del_init(mirror.dlist());
    // device->ops->release(mirror): the driver frees its mirror.
    kfree(mirror);
    if fix.put_early {
        hmm_device_unref(device);
    }
    fix.unlock(device);
    if fix.device_kref && !fix.put_early {
        // The mirror's device reference outlives the unlock: the device cannot be freed under
        // this CPU's mutex_unlock, whoever sees the list empty first.
        hmm_device_unref(device);
    }
}

/// Drop a reference on the device (device-kref); the last one frees it.
fn hmm_device_unref(device: HmmDevice) {
    kref_put(device.kref(), || kfree(device));
}

/// `hmm_device_unregister`: -EBUSY while mirrors remain.
fn hmm_device_unregister(fix: Fix, device: HmmDevice) -> i32 {
    let _f = KFunc::enter("hmm_device_unregister");
    fix.lock(device);
    if !list_empty(device.mirrors()) {
        fix.unlock(device);
        return -EBUSY;
    }
    fix.unlock(device);
    if fix.synchronize_rcu {
        synchronize_rcu();
    }
    0
}

/// The mmu_notifier SRCU: for `fixed-srcu`, whose answer rests on what `srcu_barrier` waits for,
/// the SRCU of 2015 (classic v3.5 to v4.11); the other variants, which do not wait on it, keep
/// classic v3.4's.
fn srcu_flavor(variant: &str) -> SrcuFlavor {
    if variant == "fixed-srcu" {
        SrcuFlavor::ClassicBatch
    } else {
        SrcuFlavor::Classic
    }
}

/// The end of the run: the hmm is freed and the mmu_notifier SRCU's kworker, which classic
/// SRCU v3.5+ has, stops.
#[track_caller]
fn teardown(fix: Fix, hmm: Hmm) {
    kfree(hmm);
    cleanup_srcu_struct(fix.srcu);
}
