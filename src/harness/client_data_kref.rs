//! `client_data_kref`: how may an RDMA upper-layer protocol (ULP) look up and reference its
//! per-device object in `ib_client_data` while the device is being unregistered?
//!
//! Thread: "ib_client_data and krefs", Roman Penyaev and Jason Gunthorpe, linux-rdma and
//! target-devel, June 2018 (Roman's reply of 5 June 2018 to Jason's "I think I'd prefer a managed
//! kref API instead of tricky RCU"). No public archive of the thread was found.
//!
//! The core is v4.14–v4.17 `drivers/infiniband/core/device.c`: `ib_get_client_data` walks the
//! device's `client_data_list` under the `client_data_lock` spinlock and returns `ctx->data`
//! after the unlock, **without a reference**; `ib_set_client_data` stores it under the same lock;
//! `ib_unregister_device` (under `device_mutex` and `lists_rwsem`, downgraded to read) calls each
//! client's `remove(device, ctx->data)` and then frees the contexts. Roman wants nvme-rdma to keep
//! its per-device object there: get-or-create under a ULP mutex, and readers inside
//! `rcu_read_lock()`. Jason: `ib_get_client_data` has no `rcu_dereference`, so this is not
//! "technically right"; mixing RCU with locks is "sort of a non-sense"; he proposes a core-managed
//! kref taken under the core's lock, plus create/release callbacks. Roman answers that the
//! spinlock and the function call already order the pointer load, and that get-or-create needs
//! help from the core.
//!
//! Two races (kgrace's model, CPU by CPU). (A), get-or-create without serialization:
//!
//! ```text
//! CPU1 connect                              CPU2 connect
//! ib_get_client_data -> NULL
//!                                           ib_get_client_data -> NULL
//! x0 = nvme_rdma_alloc_device (kref 2: the
//!      queue's and the client data's)
//!                                           x1 = nvme_rdma_alloc_device (kref 2)
//! ib_set_client_data(x0)
//!                                           ib_set_client_data(x1)   <- x0 orphaned
//! use x0; put (1)                           use x1; put (1)
//!     ... ib_unregister_device -> nvme_rdma_remove_one(dev, x1): put x1 (0, freed)
//!     x0 keeps the client data's reference forever: kmemleak
//! ```
//!
//! (B), remove racing with a reader that holds no reference:
//!
//! ```text
//! CPU1 reader (rdma_cm event handler)       CPU2 ib_unregister_device
//! p = ib_get_client_data(dev, &client)
//!   spin_lock; p = ctx->data; spin_unlock
//!                                           mutex_lock(&device_mutex); down_write(&lists_rwsem)
//!                                           ...; downgrade_write(&lists_rwsem)
//!                                           ulp_remove_one(dev, p):
//!                                             ib_set_client_data(dev, &client, NULL)
//!                                             kref_put(&p->kref): 1 -> 0, kfree(p)
//!                                           cma_remove_one -> cma_remove_id_dev(id):
//!                                             mutex_lock(&id_priv->handler_mutex): waits
//! kref_get(&p->kref)  <- use-after-free
//! ```
//!
//! `kref_get_unless_zero` does not help (`get-unless-zero`): it reads the freed counter. The
//! memory must stay valid, by RCU or by a lock that also covers the free.
//!
//! kgrace's answer: Roman is right about ordering: the pointer is loaded under `client_data_lock`
//! and published under it, so no `rcu_dereference` is needed for it (KCSAN stays quiet in every
//! passing variant, and none relies on `rcu_dereference` at all). Jason is right that the hazard
//! is the lifetime: an unserialized get-or-create leaks an orphan (A), and a reader without a
//! reference reads freed memory (B). Each fix passes, and each stops passing when the one
//! mechanism it rests on is removed:
//! * `rcu` (RDS, `net/rds/ib.c`): the slot owns a reference; the reader takes its own inside
//!   `rcu_read_lock`; `rds_ib_remove_one` clears the slot, `synchronize_rcu()`, then puts.
//!   Without the `synchronize_rcu()` (`rcu-no-sync`): use-after-free.
//! * `rcu-unless-zero`: `remove` clears the slot and puts at once, without waiting, so a reader
//!   that found the pointer may see the count at 0: it uses `kref_get_unless_zero` inside
//!   `rcu_read_lock`, and the memory stays valid because the release function waits for a grace
//!   period before `kfree` (what `kfree_rcu` does). A plain `kfree`
//!   (`rcu-unless-zero-kfree`): use-after-free; a plain `kref_get` (`rcu-get`): refcount_t warns
//!   "addition on 0; use-after-free".
//! * `core-kref` (Jason's proposal): the core takes the reference while it holds
//!   `client_data_lock`, and drops the slot's reference after clearing the slot. The reference
//!   taken after `spin_unlock` instead (`core-kref-unlocked`): use-after-free.
//! * `mutex` (nvme-rdma upstream, `nvme_rdma_find_get_device`): lookup, `kref_get_unless_zero`,
//!   insertion, and the release's unlink all under `device_list_mutex`. A plain `kref_get` there
//!   (`mutex-get`): refcount_t warns "addition on 0" on an object whose release is waiting for
//!   the mutex.
//! * `get-or-create-mutex` (Roman's sketch): get-or-create under a ULP mutex closes (A); without
//!   it (`get-or-create`) the orphan leaks.
//!
//! Oracles: KASAN's use-after-free and refcount_t's warnings for a ULP object used after its
//! free; for (A), kmemleak at the end of the run: the overwritten object's slot reference is
//! never dropped, so the orphan is what a kernel would report (kmemleak is the kernel's tool for
//! it; "at most one object per device" is no assertion the kernel makes); KCSAN for `ctx->data`
//! and everything else read across CPUs.
//!
//! What the model keeps, and what it leaves out:
//! * Two clients are registered, rdma_cm (`cma_client`, first) and the ULP; `add_client_context`
//!   puts each new context at the head of the device's list, so `ib_unregister_device` calls
//!   the ULP's `remove` first and rdma_cm's second, as in the kernel.
//! * The readers are rdma_cm event handlers (`addr_handler` in v4.17 `cma.c`: `handler_mutex`,
//!   the state check, the ULP's handler). `cma_remove_one` marks each id `DEVICE_REMOVAL` and
//!   takes its `handler_mutex`, so a handler has returned, and no new one runs, before the core
//!   frees the contexts: the ULP's window is its own `remove` and rdma_cm's. rdma_cm's global
//!   `lock`, its device list and references, and the `DEVICE_REMOVAL` event to the ULP are left
//!   out; the recheck after taking `handler_mutex` too (nothing destroys an id here).
//! * A ULP's use of its object is a read of `->pd` (`ib_alloc_pd` is a store at creation and
//!   `ib_dealloc_pd` a read at release); the queue's teardown, which drops the handler's
//!   reference, runs at the end of the handler.
//! * RDS's global `rds_ib_devices` list and its reference, and `rds_ib_dev_shutdown`, are left
//!   out; `rds_ib_dev_put` frees inline where the kernel queues `rds_ib_dev_free` as work.
//! * `device_mutex`, `handler_mutex` and the ULP mutexes are the model's 2015 mutex
//!   ([`Mutex`](crate::kernel::Mutex)) with v4.10's orderings (an acquire and a release): its
//!   internals differ from v4.17's, but no mutex here lives in memory that is freed during the
//!   run. That model has no `osq`, so at most one CPU may spin on a mutex: with two connects,
//!   the device goes after they are done.
//! * Roman's point about the compiler hoisting a load above `rcu_read_lock()` is not modeled:
//!   the readers reach the object only through the pointer `ib_get_client_data` returns.
//! * Jason's proposal never had code; `core-kref` is its shape as he described it, with the
//!   reference dropped by the core right after the client's `remove`.

use super::{Config, Expected, Harness, Variant, LIFETIME};
use crate::container_of;
use crate::kernel::*;
use crate::FailureKind;

/// The v4.17 kernel's configuration: its mutexes have v4.10's orderings (acquire, release).
const KERNEL: Config = Config::DEFAULT.with_mutex_acquire_release(true);

pub(super) const HARNESS: Harness = Harness {
    name: "client_data_kref",
    thread: "004 ib_client_data and krefs (linux-rdma, 2018)",
    question: "may a ULP take a reference on the object ib_get_client_data returns, under RCU or \
               kref_get_unless_zero, while ib_unregister_device removes it, or must the core \
               hand out a kref taken under its lock?",
    variants: &[
        Variant {
            name: "buggy",
            expected: Expected::FailsWith(LIFETIME),
            summary: "(B): kref_get on the pointer ib_get_client_data returned, no RCU, while \
                      remove_one drops the last reference",
            config: KERNEL,
        },
        Variant {
            name: "get-unless-zero",
            expected: Expected::FailsWith(LIFETIME),
            summary: "(B) with kref_get_unless_zero and no RCU: the freed counter is still read",
            config: KERNEL,
        },
        Variant {
            name: "get-or-create",
            expected: Expected::Fails(FailureKind::Leak),
            summary: "(A): two connects find the slot empty and both create; the overwritten \
                      object keeps the slot's reference (kmemleak)",
            config: KERNEL,
        },
        Variant {
            name: "get-or-create-mutex",
            expected: Expected::Passes,
            summary: "Roman's get-or-create under nvme_devices_mutex",
            config: KERNEL,
        },
        Variant {
            name: "rcu",
            expected: Expected::Passes,
            summary: "RDS: the slot owns a reference; refcount_inc under rcu_read_lock; remove \
                      clears the slot, synchronize_rcu, put",
            config: KERNEL,
        },
        Variant {
            name: "rcu-no-sync",
            expected: Expected::FailsWith(LIFETIME),
            summary: "RDS without the synchronize_rcu in rds_ib_remove_one",
            config: KERNEL,
        },
        Variant {
            name: "rcu-unless-zero",
            expected: Expected::Passes,
            summary: "remove puts without waiting; kref_get_unless_zero under rcu_read_lock; the \
                      release waits for a grace period before kfree (kfree_rcu)",
            config: KERNEL,
        },
        Variant {
            name: "rcu-unless-zero-kfree",
            expected: Expected::FailsWith(LIFETIME),
            summary: "rcu-unless-zero with kfree instead of kfree_rcu in the release",
            config: KERNEL,
        },
        Variant {
            name: "rcu-get",
            expected: Expected::FailsWith(LIFETIME),
            summary: "rcu-unless-zero with a plain kref_get: refcount_t's addition on 0",
            config: KERNEL,
        },
        Variant {
            name: "core-kref",
            expected: Expected::Passes,
            summary: "Jason: the core takes the reference under client_data_lock and drops the \
                      slot's after clearing it",
            config: KERNEL,
        },
        Variant {
            name: "core-kref-unlocked",
            expected: Expected::FailsWith(LIFETIME),
            summary: "the core-managed kref taken after spin_unlock",
            config: KERNEL,
        },
        Variant {
            name: "mutex",
            expected: Expected::Passes,
            summary: "nvme-rdma upstream: lookup, kref_get_unless_zero, insert and unlink under \
                      device_list_mutex",
            config: KERNEL,
        },
        Variant {
            name: "mutex-get",
            expected: Expected::FailsWith(LIFETIME),
            summary: "nvme-rdma with kref_get in the lookup: addition on 0 to a dying object",
            config: KERNEL,
        },
    ],
    body: super::Body::new(body),
};

/// What the ULP does, by variant.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scheme {
    /// (B): `ulp_cm_handler` takes the pointer and a reference with no protection;
    /// `unless_zero` uses `kref_get_unless_zero`.
    Unprotected { unless_zero: bool },
    /// (A): Roman's nvme-rdma get-or-create on client data, under `nvme_devices_mutex` or not.
    GetOrCreate { mutex: bool },
    /// RDS: `rds_ib_get_client_data` under `rcu_read_lock`.
    Rds { synchronize: bool },
    /// `remove` puts without a grace period: `kref_get_unless_zero` (or `kref_get`) under
    /// `rcu_read_lock`; the release waits for a grace period (or not) before `kfree`.
    RcuUnlessZero { unless_zero: bool, deferred_free: bool },
    /// Jason's core-managed kref.
    CoreKref { get_under_lock: bool },
    /// nvme-rdma upstream: its own `device_list` under `device_list_mutex`.
    NvmeList { unless_zero: bool },
}

fn scheme(variant: &str) -> Scheme {
    match variant {
        "buggy" => Scheme::Unprotected { unless_zero: false },
        "get-unless-zero" => Scheme::Unprotected { unless_zero: true },
        "get-or-create" => Scheme::GetOrCreate { mutex: false },
        "get-or-create-mutex" => Scheme::GetOrCreate { mutex: true },
        "rcu" => Scheme::Rds { synchronize: true },
        "rcu-no-sync" => Scheme::Rds { synchronize: false },
        "rcu-unless-zero" => Scheme::RcuUnlessZero {
            unless_zero: true,
            deferred_free: true,
        },
        "rcu-unless-zero-kfree" => Scheme::RcuUnlessZero {
            unless_zero: true,
            deferred_free: false,
        },
        "rcu-get" => Scheme::RcuUnlessZero {
            unless_zero: false,
            deferred_free: true,
        },
        "core-kref" => Scheme::CoreKref { get_under_lock: true },
        "core-kref-unlocked" => Scheme::CoreKref {
            get_under_lock: false,
        },
        "mutex" => Scheme::NvmeList { unless_zero: true },
        "mutex-get" => Scheme::NvmeList { unless_zero: false },
        other => unreachable!("variant {other} is not in HARNESS"),
    }
}

// ---------------------------------------------------------------------------------------------
// The core: drivers/infiniband/core/device.c (v4.17)

crate::kstruct! {
    /// `struct ib_device`: the fields device.c and the ULPs here use.
    struct IbDevice("ib_device") {
        core_list: ListHead,
        client_data_list: ListHead,
        client_data_lock: Spinlock,
        node_guid: Word<u64>,
        reg_state: Word<u64>,
    }
}

crate::kstruct! {
    /// `struct ib_client_data`, private to device.c: one per (device, client).
    struct IbClientData("ib_client_data") {
        list: ListHead,
        client: Word<IbClient>,
        data: Word<Ptr>,
        going_down: Word<bool>,
    }
}

crate::kstruct! {
    /// `struct ib_client`; its `add` and `remove` are chosen by which client it is
    /// ([`Rdma::add`], [`Rdma::remove`]).
    struct IbClient("ib_client") {
        list: ListHead,
    }
}

crate::kstruct! {
    /// device.c's globals: `device_list`, `client_list`, `device_mutex`, `lists_rwsem`.
    struct DeviceC("device.c") {
        device_list: ListHead,
        client_list: ListHead,
        device_mutex: Mutex,
        lists_rwsem: RwSemaphore,
    }
}

const IB_DEV_REGISTERED: u64 = 1;
const IB_DEV_UNREGISTERED: u64 = 2;

/// The kernel's global state and what the variant's ULP does: every CPU gets a copy.
#[derive(Clone, Copy)]
struct Rdma {
    scheme: Scheme,
    core: DeviceC,
    cma_client: IbClient,
    ulp_client: IbClient,
    /// nvme-rdma's globals (`device_list`, `device_list_mutex`, Roman's `nvme_devices_mutex`).
    nvme: NvmeRdma,
}

impl Rdma {
    /// `client->add(device)`.
    fn add(self, client: IbClient, device: IbDevice) {
        if client == self.cma_client {
            cma_add_one(self, device);
        } else {
            match self.scheme {
                Scheme::Rds { .. } => rds_ib_add_one(self, device),
                Scheme::Unprotected { .. } | Scheme::RcuUnlessZero { .. } | Scheme::CoreKref { .. } => {
                    ulp_add_one(self, device)
                }
                // nvme-rdma has no add: its objects are created on the first connect.
                Scheme::GetOrCreate { .. } | Scheme::NvmeList { .. } => {}
            }
        }
    }

    /// `client->remove(device, client_data)`.
    fn remove(self, client: IbClient, device: IbDevice, client_data: Ptr) {
        if client == self.cma_client {
            cma_remove_one(device, CmaDevice(client_data));
        } else {
            match self.scheme {
                Scheme::Rds { .. } => rds_ib_remove_one(self, device, RdsIbDevice(client_data)),
                Scheme::Unprotected { .. } | Scheme::RcuUnlessZero { .. } | Scheme::CoreKref { .. } => {
                    ulp_remove_one(self, device, UlpDevice(client_data))
                }
                Scheme::GetOrCreate { .. } | Scheme::NvmeList { .. } => {
                    nvme_rdma_remove_one(self, device, NvmeRdmaDevice(client_data))
                }
            }
        }
    }
}

/// `ib_get_client_data(device, client)`: the pointer escapes the lock; no reference is taken.
fn ib_get_client_data(device: IbDevice, client: IbClient) -> Ptr {
    let _f = KFunc::enter("ib_get_client_data");
    let mut ret = Ptr::NULL;
    spin_lock(device.client_data_lock());
    for pos in list_for_each(device.client_data_list()) {
        let context = container_of!(pos.addr(), IbClientData, list);
        if context.client().load() == client {
            ret = context.data().load();
            break;
        }
    }
    spin_unlock(device.client_data_lock());
    ret
}

/// `ib_set_client_data(device, client, data)`.
fn ib_set_client_data(device: IbDevice, client: IbClient, data: Ptr) {
    let _f = KFunc::enter("ib_set_client_data");
    spin_lock(device.client_data_lock());
    for pos in list_for_each(device.client_data_list()) {
        let context = container_of!(pos.addr(), IbClientData, list);
        if context.client().load() == client {
            context.data().store(data);
            break;
        }
    }
    // Not found: pr_warn("No client context found for %s/%s\n").
    spin_unlock(device.client_data_lock());
}

/// `add_client_context(device, client)`.
fn add_client_context(rdma: Rdma, device: IbDevice, client: IbClient) {
    let context: IbClientData = kmalloc();
    context.client().store(client);
    context.data().store(Ptr::NULL);
    context.going_down().store(false);
    down_write(rdma.core.lists_rwsem());
    spin_lock(device.client_data_lock());
    list_add(context.list(), device.client_data_list());
    spin_unlock(device.client_data_lock());
    up_write(rdma.core.lists_rwsem());
}

/// `ib_register_client(client)`: no device is registered yet, so only the client list changes.
fn ib_register_client(rdma: Rdma, client: IbClient) {
    mutex_lock(rdma.core.device_mutex());
    for pos in list_for_each(rdma.core.device_list()) {
        let device = container_of!(pos.addr(), IbDevice, core_list);
        add_client_context(rdma, device, client);
        rdma.add(client, device);
    }
    down_write(rdma.core.lists_rwsem());
    list_add_tail(client.list(), rdma.core.client_list());
    up_write(rdma.core.lists_rwsem());
    mutex_unlock(rdma.core.device_mutex());
}

/// `ib_register_device(device)`, reduced to the client contexts and the device list.
fn ib_register_device(rdma: Rdma, device: IbDevice) {
    mutex_lock(rdma.core.device_mutex());
    device.reg_state().store(IB_DEV_REGISTERED);
    for pos in list_for_each(rdma.core.client_list()) {
        let client = container_of!(pos.addr(), IbClient, list);
        add_client_context(rdma, device, client);
        rdma.add(client, device);
    }
    down_write(rdma.core.lists_rwsem());
    list_add_tail(device.core_list(), rdma.core.device_list());
    up_write(rdma.core.lists_rwsem());
    mutex_unlock(rdma.core.device_mutex());
}

/// `ib_unregister_device(device)`.
fn ib_unregister_device(rdma: Rdma, device: IbDevice) {
    let _f = KFunc::enter("ib_unregister_device");
    mutex_lock(rdma.core.device_mutex());

    down_write(rdma.core.lists_rwsem());
    list_del(device.core_list());
    spin_lock(device.client_data_lock());
    for pos in list_for_each_safe(device.client_data_list()) {
        let context = container_of!(pos.addr(), IbClientData, list);
        context.going_down().store(true);
    }
    spin_unlock(device.client_data_lock());
    downgrade_write(rdma.core.lists_rwsem());

    for pos in list_for_each_safe(device.client_data_list()) {
        let context = container_of!(pos.addr(), IbClientData, list);
        let client = context.client().load();
        // ctx->data is read under lists_rwsem only, not client_data_lock.
        rdma.remove(client, device, context.data().load());
        if let Scheme::CoreKref { .. } = rdma.scheme {
            if client == rdma.ulp_client {
                // Jason: "The core code will call release_kref when the ib_device is removed."
                ib_set_client_kref(rdma, device, client, None);
            }
        }
    }
    up_read(rdma.core.lists_rwsem());

    mutex_unlock(rdma.core.device_mutex());

    down_write(rdma.core.lists_rwsem());
    spin_lock(device.client_data_lock());
    for pos in list_for_each_safe(device.client_data_list()) {
        let context = container_of!(pos.addr(), IbClientData, list);
        kfree(context);
    }
    spin_unlock(device.client_data_lock());
    up_write(rdma.core.lists_rwsem());

    device.reg_state().store(IB_DEV_UNREGISTERED);
}

/// Jason's `ib_get_client_kref(device, client)`: "Returns NULL or a valid pointer holding a kref.
/// The kref must be freed by the caller." The count is positive while the pointer is stored, so
/// a reference taken under `client_data_lock` is always valid.
fn ib_get_client_kref(rdma: Rdma, device: IbDevice, client: IbClient) -> Option<Kref> {
    let _f = KFunc::enter("ib_get_client_kref");
    let get_under_lock = matches!(rdma.scheme, Scheme::CoreKref { get_under_lock: true });
    let mut ret = None;
    spin_lock(device.client_data_lock());
    for pos in list_for_each(device.client_data_list()) {
        let context = container_of!(pos.addr(), IbClientData, list);
        if context.client().load() == client {
            let data = context.data().load();
            if !data.is_null() {
                let kref = Kref::from_ptr(data);
                if get_under_lock {
                    kref_get(kref);
                }
                ret = Some(kref);
            }
            break;
        }
    }
    spin_unlock(device.client_data_lock());
    if let Some(kref) = ret.filter(|_| !get_under_lock) {
        kref_get(kref);
    }
    ret
}

/// Jason's `ib_set_client_kref(device, client, kref)`: "Atomically releases any kref already
/// held and sets to a new value. If non-null a kref is obtained." The old reference is dropped
/// through the client's putter after the unlock (the release may sleep).
fn ib_set_client_kref(rdma: Rdma, device: IbDevice, client: IbClient, kref: Option<Kref>) {
    let _f = KFunc::enter("ib_set_client_kref");
    let mut old = Ptr::NULL;
    spin_lock(device.client_data_lock());
    for pos in list_for_each(device.client_data_list()) {
        let context = container_of!(pos.addr(), IbClientData, list);
        if context.client().load() == client {
            old = context.data().load();
            if let Some(k) = kref {
                kref_get(k);
            }
            context.data().store(kref.map_or(Ptr::NULL, Kref::addr));
            break;
        }
    }
    spin_unlock(device.client_data_lock());
    if !old.is_null() {
        // client->kref_put(old)
        ulp_dev_put(rdma, container_of!(old, UlpDevice, kref));
    }
}

// ---------------------------------------------------------------------------------------------
// rdma_cm: drivers/infiniband/core/cma.c (v4.17), the part that bounds the readers

crate::kstruct! {
    /// `struct cma_device`: rdma_cm's client data.
    struct CmaDevice("cma_device") {
        id_list: ListHead,
    }
}

crate::kstruct! {
    /// `struct rdma_id_private`: one connection's cm_id.
    struct RdmaIdPrivate("rdma_id_private") {
        device: Word<IbDevice>,
        list: ListHead,
        lock: Spinlock,
        state: Word<u64>,
        handler_mutex: Mutex,
    }
}

const RDMA_CM_ADDR_QUERY: u64 = 1;
const RDMA_CM_ADDR_RESOLVED: u64 = 2;
const RDMA_CM_DEVICE_REMOVAL: u64 = 3;

/// `cma_add_one(device)`.
fn cma_add_one(rdma: Rdma, device: IbDevice) {
    let cma_dev: CmaDevice = kzalloc();
    init_list_head(cma_dev.id_list());
    ib_set_client_data(device, rdma.cma_client, cma_dev.0);
}

/// `rdma_create_id` and `rdma_resolve_addr` up to the address query: the id is bound to the
/// device, on its `cma_device`'s list, waiting for `addr_handler`.
fn rdma_create_id(rdma: Rdma, device: IbDevice) -> RdmaIdPrivate {
    let id_priv: RdmaIdPrivate = kzalloc();
    spin_lock_init(id_priv.lock());
    mutex_init(id_priv.handler_mutex());
    id_priv.device().store(device);
    id_priv.state().store(RDMA_CM_ADDR_QUERY);
    let cma_dev = CmaDevice(ib_get_client_data(device, rdma.cma_client));
    list_add_tail(id_priv.list(), cma_dev.id_list());
    id_priv
}

/// `cma_comp_exch(id_priv, comp, exch)`.
fn cma_comp_exch(id_priv: RdmaIdPrivate, comp: u64, exch: u64) -> bool {
    spin_lock(id_priv.lock());
    let ret = id_priv.state().load() == comp;
    if ret {
        id_priv.state().store(exch);
    }
    spin_unlock(id_priv.lock());
    ret
}

/// `cma_exch(id_priv, exch)`: the old state.
fn cma_exch(id_priv: RdmaIdPrivate, exch: u64) -> u64 {
    spin_lock(id_priv.lock());
    let old = id_priv.state().load();
    id_priv.state().store(exch);
    spin_unlock(id_priv.lock());
    old
}

/// `addr_handler`: the ULP's event handler runs under `handler_mutex`, unless the device is
/// going away.
fn addr_handler(rdma: Rdma, id_priv: RdmaIdPrivate) {
    let _f = KFunc::enter("addr_handler");
    mutex_lock(id_priv.handler_mutex());
    if cma_comp_exch(id_priv, RDMA_CM_ADDR_QUERY, RDMA_CM_ADDR_RESOLVED) {
        // id_priv->id.event_handler(&id_priv->id, RDMA_CM_EVENT_ADDR_RESOLVED)
        ulp_cm_handler(rdma, id_priv);
    }
    mutex_unlock(id_priv.handler_mutex());
}

/// `cma_remove_one(device, client_data)` → `cma_process_remove`.
fn cma_remove_one(_device: IbDevice, cma_dev: CmaDevice) {
    let _f = KFunc::enter("cma_remove_one");
    if cma_dev.is_null() {
        return;
    }
    while !list_empty(cma_dev.id_list()) {
        let id_priv = container_of!(list_first(cma_dev.id_list()), RdmaIdPrivate, list);
        list_del_init(id_priv.list());
        cma_remove_id_dev(id_priv);
    }
    kfree(cma_dev);
}

/// `cma_remove_id_dev(id_priv)`: after this, no handler of the id is running or will run.
fn cma_remove_id_dev(id_priv: RdmaIdPrivate) {
    let _f = KFunc::enter("cma_remove_id_dev");
    // Record that we want to remove the device.
    cma_exch(id_priv, RDMA_CM_DEVICE_REMOVAL);
    mutex_lock(id_priv.handler_mutex());
    // RDMA_CM_EVENT_DEVICE_REMOVAL to the ULP: left out (the ULPs here act in their ib_client
    // remove).
    mutex_unlock(id_priv.handler_mutex());
}

// ---------------------------------------------------------------------------------------------
// The ULPs

/// The ULP's `RDMA_CM_EVENT_ADDR_RESOLVED` handler: look up the per-device object and use it.
fn ulp_cm_handler(rdma: Rdma, id_priv: RdmaIdPrivate) {
    let device = id_priv.device().load();
    match rdma.scheme {
        Scheme::Unprotected { .. } | Scheme::RcuUnlessZero { .. } | Scheme::CoreKref { .. } => {
            ulp_event_handler(rdma, device)
        }
        Scheme::Rds { .. } => {
            // rds_ib_setup_qp
            let _f = KFunc::enter("rds_ib_setup_qp");
            let rds_ibdev = rds_ib_get_client_data(rdma, device);
            if !rds_ibdev.is_null() {
                let _pd = rds_ibdev.pd().load();
                rds_ib_dev_put(rds_ibdev);
            }
        }
        Scheme::GetOrCreate { .. } | Scheme::NvmeList { .. } => {
            // nvme_rdma_cm_handler → nvme_rdma_addr_resolved → nvme_rdma_create_queue_ib
            let _f = KFunc::enter("nvme_rdma_create_queue_ib");
            let ndev = nvme_rdma_find_get_device(rdma, device);
            if !ndev.is_null() {
                let _pd = ndev.pd().load();
                // nvme_rdma_destroy_queue_ib, when the queue goes.
                nvme_rdma_dev_put(rdma, ndev);
            }
        }
    }
}

crate::kstruct! {
    /// Roman's `struct ulp_device` (the srpt/iser shape of his examples).
    struct UlpDevice("ulp_device") {
        kref: Kref,
        pd: Word<u64>,
    }
}

/// `ulp_add_one(device)`: the object, its reference owned by the client data.
fn ulp_add_one(rdma: Rdma, device: IbDevice) {
    let ulp_dev: UlpDevice = kzalloc();
    kref_init(ulp_dev.kref());
    ulp_dev.pd().store(1); // ib_alloc_pd
    if let Scheme::CoreKref { .. } = rdma.scheme {
        // The core takes its own reference; drop ours.
        ib_set_client_kref(rdma, device, rdma.ulp_client, Some(ulp_dev.kref()));
        ulp_dev_put(rdma, ulp_dev);
    } else {
        ib_set_client_data(device, rdma.ulp_client, ulp_dev.0);
    }
}

/// `ulp_event_handler`: take the object ib_get_client_data (or Jason's `ib_get_client_kref`)
/// returns, use it, drop the reference.
fn ulp_event_handler(rdma: Rdma, device: IbDevice) {
    let _f = KFunc::enter("ulp_event_handler");
    let client = rdma.ulp_client;
    let ulp_dev = match rdma.scheme {
        Scheme::Unprotected { unless_zero } => {
            let ulp_dev = UlpDevice(ib_get_client_data(device, client));
            if ulp_dev.is_null() {
                return;
            }
            if unless_zero {
                if !kref_get_unless_zero(ulp_dev.kref()) {
                    return;
                }
            } else {
                kref_get(ulp_dev.kref());
            }
            ulp_dev
        }
        Scheme::RcuUnlessZero { unless_zero, .. } => {
            rcu_read_lock();
            let mut ulp_dev = UlpDevice(ib_get_client_data(device, client));
            if !ulp_dev.is_null() {
                if unless_zero {
                    if !kref_get_unless_zero(ulp_dev.kref()) {
                        ulp_dev = UlpDevice::NULL;
                    }
                } else {
                    kref_get(ulp_dev.kref());
                }
            }
            rcu_read_unlock();
            if ulp_dev.is_null() {
                return;
            }
            ulp_dev
        }
        Scheme::CoreKref { .. } => match ib_get_client_kref(rdma, device, client) {
            Some(kref) => container_of!(kref.addr(), UlpDevice, kref),
            None => return,
        },
        _ => unreachable!(),
    };
    // ... use ulp_dev ...
    let _pd = ulp_dev.pd().load();
    ulp_dev_put(rdma, ulp_dev);
}

/// `ulp_remove_one(device, client_data)`: stop new lookups, drop the client data's reference.
/// Under Jason's scheme the core drops it after `remove` returns.
fn ulp_remove_one(rdma: Rdma, device: IbDevice, ulp_dev: UlpDevice) {
    let _f = KFunc::enter("ulp_remove_one");
    if ulp_dev.is_null() {
        return;
    }
    if let Scheme::CoreKref { .. } = rdma.scheme {
        return;
    }
    ib_set_client_data(device, rdma.ulp_client, Ptr::NULL);
    ulp_dev_put(rdma, ulp_dev);
}

fn ulp_dev_put(rdma: Rdma, ulp_dev: UlpDevice) {
    kref_put(ulp_dev.kref(), || ulp_dev_release(rdma, ulp_dev));
}

/// The kref release: `ib_dealloc_pd`, then the free; under `rcu-unless-zero` after a grace
/// period.
fn ulp_dev_release(rdma: Rdma, ulp_dev: UlpDevice) {
    let _f = KFunc::enter("ulp_dev_release");
    let _pd = ulp_dev.pd().load(); // ib_dealloc_pd
    if let Scheme::RcuUnlessZero {
        deferred_free: true, ..
    } = rdma.scheme
    {
        // kfree_rcu(ulp_dev, rcu)
        synchronize_rcu();
    }
    kfree(ulp_dev);
}

crate::kstruct! {
    /// `struct rds_ib_device` (`net/rds/ib.h`), its `refcount_t`.
    struct RdsIbDevice("rds_ib_device") {
        pd: Word<u64>,
        refcount: Refcount,
    }
}

/// `rds_ib_add_one(device)`.
fn rds_ib_add_one(rdma: Rdma, device: IbDevice) {
    let rds_ibdev: RdsIbDevice = kzalloc();
    refcount_set(rds_ibdev.refcount(), 1);
    rds_ibdev.pd().store(1); // ib_alloc_pd
    ib_set_client_data(device, rdma.ulp_client, rds_ibdev.0);
    refcount_inc(rds_ibdev.refcount());
    rds_ib_dev_put(rds_ibdev);
}

/// `rds_ib_get_client_data(device)`: the client data's reference keeps the count above zero
/// until a grace period after the slot is cleared, so a plain `refcount_inc` is enough.
fn rds_ib_get_client_data(rdma: Rdma, device: IbDevice) -> RdsIbDevice {
    let _f = KFunc::enter("rds_ib_get_client_data");
    rcu_read_lock();
    let rds_ibdev = RdsIbDevice(ib_get_client_data(device, rdma.ulp_client));
    if !rds_ibdev.is_null() {
        refcount_inc(rds_ibdev.refcount());
    }
    rcu_read_unlock();
    rds_ibdev
}

/// `rds_ib_dev_put(rds_ibdev)`: the last put queues `rds_ib_dev_free`, modeled inline.
fn rds_ib_dev_put(rds_ibdev: RdsIbDevice) {
    let _f = KFunc::enter("rds_ib_dev_put");
    bug_on(
        refcount_read(rds_ibdev.refcount()) == 0,
        "rds_ib_dev_put: refcount 0",
    );
    if refcount_dec_and_test(rds_ibdev.refcount()) {
        // rds_ib_dev_free
        let _pd = rds_ibdev.pd().load(); // ib_dealloc_pd
        kfree(rds_ibdev);
    }
}

/// `rds_ib_remove_one(device, client_data)`.
fn rds_ib_remove_one(rdma: Rdma, device: IbDevice, rds_ibdev: RdsIbDevice) {
    let _f = KFunc::enter("rds_ib_remove_one");
    if rds_ibdev.is_null() {
        return;
    }
    // stop connection attempts from getting a reference to this device.
    ib_set_client_data(device, rdma.ulp_client, Ptr::NULL);
    // This synchronize rcu is waiting for readers of both the ib client data and the devices
    // list to finish before we drop both of those references.
    if matches!(rdma.scheme, Scheme::Rds { synchronize: true }) {
        synchronize_rcu();
    }
    rds_ib_dev_put(rds_ibdev);
}

crate::kstruct! {
    /// `struct nvme_rdma_device` (`drivers/nvme/host/rdma.c`).
    struct NvmeRdmaDevice("nvme_rdma_device") {
        dev: Word<IbDevice>,
        pd: Word<u64>,
        kref: Kref,
        entry: ListHead,
    }
}

crate::kstruct! {
    /// nvme-rdma's globals: upstream's `device_list` and `device_list_mutex`, and the
    /// `nvme_devices_mutex` of Roman's sketch.
    struct NvmeRdma("nvme-rdma") {
        device_list: ListHead,
        device_list_mutex: Mutex,
        nvme_devices_mutex: Mutex,
    }
}

/// `nvme_rdma_dev_get(ndev)`: `kref_get_unless_zero` (a plain `kref_get` in `mutex-get`).
fn nvme_rdma_dev_get(rdma: Rdma, ndev: NvmeRdmaDevice) -> bool {
    if let Scheme::NvmeList { unless_zero: false } = rdma.scheme {
        kref_get(ndev.kref());
        return true;
    }
    kref_get_unless_zero(ndev.kref())
}

fn nvme_rdma_dev_put(rdma: Rdma, ndev: NvmeRdmaDevice) {
    kref_put(ndev.kref(), || nvme_rdma_free_dev(rdma, ndev));
}

/// `nvme_rdma_free_dev` (kref release): off the lookup structure, under the lookup's mutex,
/// before the free.
fn nvme_rdma_free_dev(rdma: Rdma, ndev: NvmeRdmaDevice) {
    let _f = KFunc::enter("nvme_rdma_free_dev");
    if let Scheme::NvmeList { .. } = rdma.scheme {
        mutex_lock(rdma.nvme.device_list_mutex());
        list_del(ndev.entry());
        mutex_unlock(rdma.nvme.device_list_mutex());
    }
    let _pd = ndev.pd().load(); // ib_dealloc_pd
    kfree(ndev);
}

/// `nvme_rdma_alloc_device`: one reference, the caller's.
fn nvme_rdma_alloc_device(device: IbDevice) -> NvmeRdmaDevice {
    let ndev: NvmeRdmaDevice = kzalloc();
    ndev.dev().store(device);
    kref_init(ndev.kref());
    ndev.pd().store(1); // ib_alloc_pd
    ndev
}

/// `nvme_rdma_find_get_device(cm_id)`: a referenced object for the queue.
fn nvme_rdma_find_get_device(rdma: Rdma, device: IbDevice) -> NvmeRdmaDevice {
    let _f = KFunc::enter("nvme_rdma_find_get_device");
    match rdma.scheme {
        Scheme::GetOrCreate { mutex } => {
            // Roman's sketch, on client data; the client data owns a reference of its own.
            if mutex {
                mutex_lock(rdma.nvme.nvme_devices_mutex());
            }
            let mut ndev = NvmeRdmaDevice(ib_get_client_data(device, rdma.ulp_client));
            if !ndev.is_null() {
                if warn_on(!nvme_rdma_dev_get(rdma, ndev), "nvme_rdma_dev_get failed") {
                    ndev = NvmeRdmaDevice::NULL;
                }
            } else {
                ndev = nvme_rdma_alloc_device(device);
                kref_get(ndev.kref()); // the client data's
                ib_set_client_data(device, rdma.ulp_client, ndev.0);
            }
            if mutex {
                mutex_unlock(rdma.nvme.nvme_devices_mutex());
            }
            ndev
        }
        Scheme::NvmeList { .. } => {
            // Upstream.
            mutex_lock(rdma.nvme.device_list_mutex());
            for pos in list_for_each(rdma.nvme.device_list()) {
                let ndev = container_of!(pos.addr(), NvmeRdmaDevice, entry);
                if ndev.dev().load().node_guid().load() == device.node_guid().load()
                    && nvme_rdma_dev_get(rdma, ndev)
                {
                    mutex_unlock(rdma.nvme.device_list_mutex());
                    return ndev;
                }
            }
            let ndev = nvme_rdma_alloc_device(device);
            list_add(ndev.entry(), rdma.nvme.device_list());
            mutex_unlock(rdma.nvme.device_list_mutex());
            ndev
        }
        _ => unreachable!(),
    }
}

/// `nvme_rdma_remove_one(ib_device, client_data)`.
fn nvme_rdma_remove_one(rdma: Rdma, device: IbDevice, ndev: NvmeRdmaDevice) {
    let _f = KFunc::enter("nvme_rdma_remove_one");
    match rdma.scheme {
        Scheme::GetOrCreate { .. } => {
            // Roman's: the client data's reference goes with the device.
            if ndev.is_null() {
                return;
            }
            ib_set_client_data(device, rdma.ulp_client, Ptr::NULL);
            nvme_rdma_dev_put(rdma, ndev);
        }
        _ => {
            // Upstream: is the device in use?
            mutex_lock(rdma.nvme.device_list_mutex());
            let found = list_for_each(rdma.nvme.device_list())
                .any(|pos| container_of!(pos.addr(), NvmeRdmaDevice, entry).dev().load() == device);
            mutex_unlock(rdma.nvme.device_list_mutex());
            // If so, nvme_delete_ctrl for each controller on the device, whose queues drop their
            // references as they go, and flush_workqueue(nvme_delete_wq). Here the connects
            // have torn their queues down before the device goes.
            let _ = found;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The run

fn body(variant: &'static str) {
    let scheme = scheme(variant);

    let core: DeviceC = define_static();
    init_list_head(core.device_list());
    init_list_head(core.client_list());
    mutex_init(core.device_mutex());
    init_rwsem(core.lists_rwsem());
    let nvme: NvmeRdma = define_static();
    init_list_head(nvme.device_list());
    mutex_init(nvme.device_list_mutex());
    mutex_init(nvme.nvme_devices_mutex());
    let rdma = Rdma {
        scheme,
        core,
        cma_client: define_static(),
        ulp_client: define_static(),
        nvme,
    };

    // Module init: rdma_cm, then the ULP; then the HCA driver registers its device.
    ib_register_client(rdma, rdma.cma_client);
    ib_register_client(rdma, rdma.ulp_client);
    let device: IbDevice = kzalloc();
    init_list_head(device.client_data_list());
    spin_lock_init(device.client_data_lock());
    device.node_guid().store(0x0002_c903_0000_0001);
    ib_register_device(rdma, device);

    // The connections whose handlers look the object up: two connects that may create it
    // ((A), nvme-rdma), or one reader.
    let two = matches!(scheme, Scheme::GetOrCreate { .. } | Scheme::NvmeList { .. });
    let id1 = rdma_create_id(rdma, device);
    let id2 = two.then(|| rdma_create_id(rdma, device));

    let reader1 = spawn_cpu("addr_handler", move || addr_handler(rdma, id1));
    let reader2 = id2.map(|id| spawn_cpu("addr_handler", move || addr_handler(rdma, id)));
    // With two connects the race is between them (a get-or-create, a lookup against the last
    // put), and the device goes once they are done; with one reader, the device goes meanwhile.
    // (Two connects and a concurrent unregister would make two CPUs spin on one mutex, which
    // the mutex model leaves out: it has no osq.)
    let unregister =
        (!two).then(|| spawn_cpu("ib_unregister_device", move || ib_unregister_device(rdma, device)));
    reader1.join();
    if let Some(r) = reader2 {
        r.join();
    }
    match unregister {
        Some(u) => u.join(),
        None => ib_unregister_device(rdma, device),
    }

    // The driver frees its device (ib_dealloc_device); rdma_destroy_id frees the ids.
    kfree(id1);
    if let Some(id) = id2 {
        kfree(id);
    }
    kfree(device);
}
