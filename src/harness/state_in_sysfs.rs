//! `state_in_sysfs`: CXL memdev ioctl racing with device removal, and what SRCU does and does
//! not protect.
//!
//! Thread: "[PATCH v2 2/4] cxl/mem: Fix synchronization mechanism for device removal vs ioctl
//! operations", Dan Williams and Jason Gunthorpe, linux-cxl/linux-kernel, March 2021
//! (`docs/state_in_sysfs.md`: the thread, the kernel code, the interleavings, the oracles).
//!
//! v2 has the ioctl check `device_is_registered()` (a plain read of the `state_in_sysfs` bit)
//! inside `srcu_read_lock(&cxl_memdev_srcu)`, and removal clear it (`cdev_device_del`), call
//! `synchronize_srcu`, and drop `cxlm`. Dan: the flag is the SRCU-protected data, as in
//! `kill_dax()`. Jason: data read under RCU is unstable and needs at least `READ_ONCE`; "the lock
//! would have to enclose the store", since flushing readers after the store does not stop the
//! store racing with a reader's load. "It is not about the flushing."
//!
//! kgrace's answer: under SRCU the flag read races with the store (KCSAN reports it; the
//! outcome is benign under sequential consistency), and marking the flag's own accesses is not
//! enough, since its bitfield word is also written by other kobject code. The merged fix (rwsem, store inside
//! `down_write`) has neither a race nor a use-after-free. The ordering mistakes around it are
//! use-after-frees, and "flush after the store" with a re-loading compiler is a NULL dereference:
//!
//! ```text
//! CPU1 ioctl                              CPU2 cxl_memdev_unregister
//! down_read(&cxl_memdev_rwsem)
//! cxlm = cxlmd->cxlm        (non-NULL)
//!                                         cxlmd->cxlm = NULL   <- outside the lock
//! cxlm->...: the compiler loads
//! cxlmd->cxlm again: NULL dereference
//! up_read                                 down_write; up_write  (the "flush")
//! ```
//!
//! Variants (`docs/state_in_sysfs.md`, §The algorithm and §The breaking interleavings):
//! * `buggy`: v2 as posted: plain flag read under SRCU vs the plain store (data race).
//! * `once`: the flag read and cleared with `READ_ONCE`/`WRITE_ONCE` (not expressible on the
//!   real bitfield), its sibling bits written as the kernel does: still a data race, on the word.
//!   `device_del` sends the remove uevent before `kobject_del`, and `kobject_uevent_env` marks it
//!   sent with `kobj->state_remove_uevent_sent = 1`: a plain read-modify-write of the word the
//!   ioctl loads.
//! * `once-word`: every access to the word marked, the sibling bits' too: no race, no
//!   use-after-free.
//! * `sync-before-store`: `synchronize_srcu` before clearing the flag (use-after-free).
//! * `check-outside-section`: the flag checked before `srcu_read_lock` (use-after-free).
//! * `rwsem-flush`: the pointer cleared outside the rwsem, then `down_write; up_write`, with the
//!   compiler re-loading the reader's plain load and KCSAN off: the NULL dereference above.
//! * `rwsem-flush-kcsan`: the same code with KCSAN on: the data race Jason named.
//! * `fixed`: the merged rwsem fix (V4, `5877515912cc`), checked with refetching on.
//! * `percpu-ref`: v5.12-rc1, before the thread: the ioctl takes `percpu_ref_tryget_live(&cxlmd->
//!   ops_active)`, unregister kills the ref, waits for its release, clears `cxlm` and drops the
//!   device; an open file holds no device reference. The fix's changelog calls it "implemented
//!   incorrectly (missing a device reference before accessing the percpu_ref)": a use-after-free
//!   of the memdev.
//!
//!   ```text
//!   CPU1 ioctl (file still open)            CPU2 cxl_memdev_unregister
//!                                           percpu_ref_kill; cdev_device_del
//!                                           wait_for_completion(&cxlmd->ops_dead)
//!                                           cxlmd->cxlm = NULL
//!                                           put_device: the last reference, kfree(cxlmd)
//!   percpu_ref_tryget_live(&cxlmd->ops_active)   <- use-after-free
//!   ```
//! * `percpu-ref-devref`: the same with the device reference v2 added to open: passes.
//!
//! The two ordering-mistake variants keep every access to the flag word and the `cxlm` pointer
//! marked, so that what fails is the lifetime and not the marking: with plain accesses KCSAN
//! reports the unordered accesses first, an earlier symptom of the same bug.

use super::{Config, Expected, Harness, Variant};
use crate::kernel::*;
use crate::FailureKind;

/// The v5.12 kernel's configuration: its mutexes have v4.10's orderings (acquire, release).
const KERNEL: Config = Config::DEFAULT.with_mutex_acquire_release(true);

pub(super) const HARNESS: Harness = Harness {
    name: "state_in_sysfs",
    thread: "000 cxl/mem: Fix synchronization mechanism for device removal vs ioctl (2021)",
    question: "may the ioctl test a plain state_in_sysfs flag under srcu_read_lock while removal \
               clears it and then synchronizes, or must the lock enclose the store?",
    variants: &[
        Variant {
            name: "buggy",
            expected: Expected::Fails(FailureKind::DataRace),
            summary: "v2: plain device_is_registered() under SRCU vs the plain clear in device_del",
            config: ORACLE,
        },
        Variant {
            name: "once",
            expected: Expected::Fails(FailureKind::DataRace),
            summary: "v2 with READ_ONCE/WRITE_ONCE on the flag; device_del's plain write of a \
                      sibling bit (state_remove_uevent_sent) still races with the read",
            config: ORACLE,
        },
        Variant {
            name: "once-word",
            expected: Expected::Passes,
            summary: "v2 with every access to the kobject's bitfield word marked",
            config: ORACLE,
        },
        Variant {
            name: "sync-before-store",
            expected: Expected::FailsWith(super::LIFETIME),
            summary: "synchronize_srcu before the flag is cleared",
            config: ORACLE,
        },
        Variant {
            name: "check-outside-section",
            expected: Expected::FailsWith(HOISTED),
            summary: "the flag and cxlm checked before srcu_read_lock",
            config: ORACLE,
        },
        Variant {
            name: "rwsem-flush",
            expected: Expected::Fails(FailureKind::NullDeref),
            summary: "cxlm = NULL outside the rwsem, then down_write/up_write; the compiler \
                      re-loads cxlm (KCSAN off)",
            config: Config {
                refetch: true,
                kcsan: false,
                ..KERNEL
            },
        },
        Variant {
            name: "rwsem-flush-kcsan",
            expected: Expected::Fails(FailureKind::DataRace),
            summary: "the same store outside the rwsem, under KCSAN",
            config: KERNEL,
        },
        Variant {
            name: "percpu-ref",
            expected: Expected::FailsWith(super::LIFETIME),
            summary: "v5.12-rc1: percpu_ref_tryget_live in the ioctl, kill and wait in \
                      unregister; an open file holds no device reference",
            config: KERNEL,
        },
        Variant {
            name: "percpu-ref-devref",
            expected: Expected::Passes,
            summary: "percpu-ref with a device reference for every open file",
            config: KERNEL,
        },
        Variant {
            name: "fixed",
            expected: Expected::Passes,
            summary: "merged fix: cxlm tested under down_read, cleared under down_write (re-loads on)",
            config: Config {
                refetch: true,
                ..KERNEL
            },
        },
    ],
    body: super::Body::new(body),
};

/// `check-outside-section`'s symptoms: the lifetime bug's, and under `lkmm` a NULL dereference: the
/// two hoisted loads (`cxlm`, then the flag) are unordered, so the ioctl may see the cleared
/// pointer with a stale "registered" flag.
const HOISTED: &[FailureKind] = &[
    FailureKind::UseAfterFree,
    FailureKind::DataRace,
    FailureKind::NullDeref,
];

const ORACLE: Config = Config {
    gp_oracle: true,
    ..KERNEL
};

crate::kstruct! {
    /// `struct cxl_memdev`: the embedded device's kobject state word and reference count, and
    /// the driver context.
    struct CxlMemdev("cxl_memdev") {
        /// The word holding `dev.kobj`'s bitfields (`state_initialized`, `state_in_sysfs`, ...).
        kobj_state: Word<u64>,
        refcount: Kref,
        cxlm: Word<CxlMem>,
        /// v5.12-rc1 (`percpu-ref` variants): the ioctls in flight, and their end.
        ops_active: PercpuRef,
        ops_dead: Completion,
    }
}

crate::kstruct! {
    /// `struct cxl_mem`: the PCI driver's context, freed by devres at unbind.
    struct CxlMem("cxl_mem") {
        payload_size: Word<u64>,
        mbox_mutex: Mutex,
        mbox_cmd: Word<u64>,
        mbox_status: Word<u64>,
    }
}

// struct kobject's bitfields, in their order: `state_initialized:1, state_in_sysfs:1,
// state_add_uevent_sent:1, state_remove_uevent_sent:1, uevent_suppress:1`.
const STATE_INITIALIZED: u64 = 1 << 0;
const STATE_IN_SYSFS: u64 = 1 << 1;
const STATE_ADD_UEVENT_SENT: u64 = 1 << 2;
const STATE_REMOVE_UEVENT_SENT: u64 = 1 << 3;
const UEVENT_SUPPRESS: u64 = 1 << 4;
const ENXIO: i64 = 6;

/// Which accesses to the kobject's bitfield word (and to `cxlmd->cxlm`) are marked.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Marking {
    /// As in the kernel: all plain.
    Plain,
    /// `state_in_sysfs`'s own read and clear, and `cxlmd->cxlm`; the sibling bits plain.
    Flag,
    /// Every access to the word, and `cxlmd->cxlm`.
    Word,
}

/// What differs between the variants.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scheme {
    /// v2: SRCU around the ioctl, `synchronize_srcu` in unregister.
    Srcu {
        marking: Marking,
        sync_before_store: bool,
        check_outside: bool,
    },
    /// The rwsem schemes: `store_inside` is the merged fix; otherwise the store precedes an empty
    /// `down_write; up_write`.
    Rwsem { store_inside: bool },
    /// v5.12-rc1's `percpu_ref`; `devref`: an open file holds a device reference.
    PercpuRef { devref: bool },
}

fn scheme(variant: &str) -> Scheme {
    let srcu = |marking, sync_before_store, check_outside| Scheme::Srcu {
        marking,
        sync_before_store,
        check_outside,
    };
    match variant {
        "buggy" => srcu(Marking::Plain, false, false),
        "once" => srcu(Marking::Flag, false, false),
        "once-word" => srcu(Marking::Word, false, false),
        "sync-before-store" => srcu(Marking::Word, true, false),
        "check-outside-section" => srcu(Marking::Word, false, true),
        "rwsem-flush" | "rwsem-flush-kcsan" => Scheme::Rwsem { store_inside: false },
        "fixed" => Scheme::Rwsem { store_inside: true },
        "percpu-ref" => Scheme::PercpuRef { devref: false },
        "percpu-ref-devref" => Scheme::PercpuRef { devref: true },
        other => unreachable!("variant {other} is not in HARNESS"),
    }
}

fn body(variant: &'static str) {
    let scheme = scheme(variant);
    let cxl_memdev_srcu = init_srcu_struct(SrcuFlavor::Tree);
    let cxl_memdev_rwsem: Globals = define_static();
    init_rwsem(cxl_memdev_rwsem.rwsem());

    // cxl_memdev_alloc + cdev_device_add: the driver context is set before the cdev is
    // published, so it needs no lock (Jason: "the pointer hasn't left the local stack frame").
    let cxlm: CxlMem = kzalloc();
    cxlm.payload_size().store(4096);
    mutex_init(cxlm.mbox_mutex());
    let cxlmd: CxlMemdev = kzalloc();
    kref_init(cxlmd.refcount());
    cxlmd.cxlm().store(cxlm);
    // kobject_init, kobject_add, and device_add's KOBJ_ADD uevent.
    cxlmd
        .kobj_state()
        .store(STATE_INITIALIZED | STATE_IN_SYSFS | STATE_ADD_UEVENT_SENT);
    percpu_ref_init(cxlmd.ops_active());
    init_completion(cxlmd.ops_dead());
    // open(): the file holds a device reference (not before v2).
    let devref = !matches!(scheme, Scheme::PercpuRef { devref: false });
    if devref {
        get_device(cxlmd);
    }

    let ioctl = spawn_cpu("ioctl", move || {
        let _rc = cxl_memdev_ioctl(scheme, cxlmd, cxl_memdev_srcu, cxl_memdev_rwsem);
        // release(): drop the file's reference.
        if devref {
            put_device(cxlmd);
        }
    });
    let unbind = spawn_cpu("unbind", move || {
        cxl_memdev_unregister(scheme, cxlmd, cxl_memdev_srcu, cxl_memdev_rwsem);
        // devres, after the unregister action: the driver context goes.
        kfree(cxlm);
    });
    ioctl.join();
    unbind.join();
    cleanup_srcu_struct(cxl_memdev_srcu);
}

crate::kstruct! {
    /// `static DECLARE_RWSEM(cxl_memdev_rwsem)`.
    struct Globals("cxl_memdev_rwsem") {
        rwsem: RwSemaphore,
    }
}

fn get_device(cxlmd: CxlMemdev) {
    kref_get(cxlmd.refcount());
}

/// `put_device`: the last reference runs `cxl_memdev_release`, which frees the memdev.
fn put_device(cxlmd: CxlMemdev) {
    kref_put(cxlmd.refcount(), || kfree(cxlmd));
}

/// Whether the accesses of `state_in_sysfs` itself are marked (`sibling`: of another bit).
fn marked(scheme: Scheme, sibling: bool) -> bool {
    match scheme {
        Scheme::Srcu { marking, .. } => marking == Marking::Word || (marking == Marking::Flag && !sibling),
        Scheme::Rwsem { .. } | Scheme::PercpuRef { .. } => false,
    }
}

/// A read of the kobject's bitfield word.
fn kobj_state_load(scheme: Scheme, cxlmd: CxlMemdev, sibling: bool) -> u64 {
    if marked(scheme, sibling) {
        read_once(cxlmd.kobj_state())
    } else {
        cxlmd.kobj_state().load()
    }
}

/// A store to one bit of the word: the compiler reads the whole word, changes the bit and
/// writes the whole word back.
fn kobj_state_assign(scheme: Scheme, cxlmd: CxlMemdev, bit: u64, on: bool, sibling: bool) {
    let w = kobj_state_load(scheme, cxlmd, sibling);
    let w = if on { w | bit } else { w & !bit };
    if marked(scheme, sibling) {
        write_once(cxlmd.kobj_state(), w);
    } else {
        cxlmd.kobj_state().store(w);
    }
}

/// `device_is_registered(dev)`: `dev->kobj.state_in_sysfs`, a plain bitfield read.
fn device_is_registered(scheme: Scheme, cxlmd: CxlMemdev) -> bool {
    kobj_state_load(scheme, cxlmd, false) & STATE_IN_SYSFS != 0
}

/// `cxl_memdev_ioctl`.
fn cxl_memdev_ioctl(scheme: Scheme, cxlmd: CxlMemdev, srcu: SrcuStruct, g: Globals) -> i64 {
    let _f = KFunc::enter("cxl_memdev_ioctl");
    match scheme {
        Scheme::Srcu {
            marking,
            check_outside,
            ..
        } => {
            let load_cxlm = || {
                if marking != Marking::Plain {
                    read_once(cxlmd.cxlm())
                } else {
                    cxlmd.cxlm().load()
                }
            };
            // Hoisted: the context cached (as at open time) and the flag tested before the read
            // side begins.
            let early = check_outside.then(|| {
                let cxlm = load_cxlm();
                (device_is_registered(scheme, cxlmd), cxlm)
            });
            let idx = srcu_read_lock(srcu);
            let (live, early) = match early {
                Some((live, cxlm)) => (live, Some(cxlm)),
                None => (device_is_registered(scheme, cxlmd), None),
            };
            let rc = if live {
                let cxlm = early.unwrap_or_else(load_cxlm);
                cxl_mem_run_cmd(cxlm)
            } else {
                -ENXIO
            };
            srcu_read_unlock(srcu, idx);
            rc
        }
        Scheme::PercpuRef { .. } => {
            // cxlmd = container_of(inode->i_cdev, ...): no reference of its own.
            if !percpu_ref_tryget_live(cxlmd.ops_active()) {
                return -ENXIO;
            }
            let rc = cxl_mem_run_cmd(cxlmd.cxlm().load());
            percpu_ref_put(cxlmd.ops_active(), || cxl_memdev_active_release(cxlmd));
            rc
        }
        Scheme::Rwsem { .. } => {
            down_read(g.rwsem());
            let cxlm = cxlmd.cxlm().load();
            let rc = if cxlm.is_null() {
                -ENXIO
            } else {
                // The use: the compiler may load cxlmd->cxlm once more here.
                cxl_mem_run_cmd(cxlmd.cxlm().refetch(cxlm))
            };
            up_read(g.rwsem());
            rc
        }
    }
}

/// `cxl_send_cmd` → `cxl_mem_mbox_send_cmd`: a mailbox command under the context's mutex.
fn cxl_mem_run_cmd(cxlm: CxlMem) -> i64 {
    let _f = KFunc::enter("cxl_mem_mbox_send_cmd");
    if cxlm.payload_size().load() < 64 {
        return -22;
    }
    mutex_lock(cxlm.mbox_mutex());
    cxlm.mbox_cmd().store(0x4000); // IDENTIFY
    let status = cxlm.mbox_status().load();
    mutex_unlock(cxlm.mbox_mutex());
    status as i64
}

/// `cxlmd_ops_active_release` (the percpu_ref's release): the last ioctl is done.
fn cxl_memdev_active_release(cxlmd: CxlMemdev) {
    complete(cxlmd.ops_dead());
}

/// `cxl_memdev_unregister` (the devm action at unbind).
fn cxl_memdev_unregister(scheme: Scheme, cxlmd: CxlMemdev, srcu: SrcuStruct, g: Globals) {
    let _f = KFunc::enter("cxl_memdev_unregister");
    match scheme {
        Scheme::Srcu {
            marking,
            sync_before_store,
            ..
        } => {
            if sync_before_store {
                synchronize_srcu(srcu);
                cdev_device_del(scheme, cxlmd);
            } else {
                cdev_device_del(scheme, cxlmd);
                synchronize_srcu(srcu);
            }
            // The sync-before-store order (docs/state_in_sysfs.md, §(b)) frees the context without
            // clearing the pointer first.
            if !sync_before_store {
                if marking != Marking::Plain {
                    write_once(cxlmd.cxlm(), CxlMem::NULL);
                } else {
                    cxlmd.cxlm().store(CxlMem::NULL);
                }
            }
        }
        Scheme::PercpuRef { .. } => {
            percpu_ref_kill(cxlmd.ops_active(), || cxl_memdev_active_release(cxlmd));
            cdev_device_del(scheme, cxlmd);
            wait_for_completion(cxlmd.ops_dead());
            cxlmd.cxlm().store(CxlMem::NULL);
        }
        Scheme::Rwsem { store_inside } => {
            cdev_device_del(scheme, cxlmd);
            // cxl_memdev_shutdown
            if store_inside {
                down_write(g.rwsem());
                cxlmd.cxlm().store(CxlMem::NULL);
                up_write(g.rwsem());
            } else {
                cxlmd.cxlm().store(CxlMem::NULL);
                down_write(g.rwsem());
                up_write(g.rwsem());
            }
        }
    }
    put_device(cxlmd);
}

/// `cdev_device_del` → `device_del`: the remove uevent, then `kobject_del` → `__kobject_del`,
/// which clears `state_in_sysfs`; then `cdev_del` (no new opens).
fn cdev_device_del(scheme: Scheme, cxlmd: CxlMemdev) {
    let _f = KFunc::enter("cdev_device_del");
    kobject_uevent_remove(scheme, cxlmd);
    // __kobject_del: `kobj->state_in_sysfs = 0`, a read-modify-write of the bitfield word.
    kobj_state_assign(scheme, cxlmd, STATE_IN_SYSFS, false, false);
}

/// `kobject_uevent(&dev->kobj, KOBJ_REMOVE)` → `kobject_uevent_env`: skipped if
/// `uevent_suppress`; otherwise `kobj->state_remove_uevent_sent = 1`, a read-modify-write of the
/// same word as `state_in_sysfs`, by code that knows nothing of the ioctl's flag test.
fn kobject_uevent_remove(scheme: Scheme, cxlmd: CxlMemdev) {
    let _f = KFunc::enter("kobject_uevent_env");
    if kobj_state_load(scheme, cxlmd, true) & UEVENT_SUPPRESS != 0 {
        return;
    }
    kobj_state_assign(scheme, cxlmd, STATE_REMOVE_UEVENT_SENT, true, true);
}
