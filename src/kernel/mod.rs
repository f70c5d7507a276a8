//! The kernel model a harness is written against: kernel names, kernel semantics.
//!
//! * Memory: [`Word`]s inside [`kstruct!`](crate::kstruct) objects, each access with its kind:
//!   plain ([`Word::load`]/[`Word::store`]), [`read_once`]/[`write_once`], [`smp_load_acquire`]/
//!   [`smp_store_release`], atomics ([`atomic_inc`], [`atomic_dec_and_test`], [`xchg`],
//!   [`cmpxchg`], ...) and fences ([`smp_mb`], [`smp_rmb`], [`smp_wmb`], [`barrier`],
//!   [`smp_acquire__after_ctrl_dep`]).
//! * Heap: [`kmalloc`], [`kzalloc`], [`kfree`]; [`kmemleak_not_leak`] for objects that outlive an
//!   execution by design.
//! * CPUs: [`spawn_cpu`], [`CpuHandle::join`]; tasks sleep and wake with [`schedule`] and
//!   [`wake_up_process`].
//! * Locks: [`Spinlock`], the 2015 [`Mutex`] with its internals, [`RwSemaphore`];
//!   [`Completion`].
//! * Reference counts: [`PercpuRef`] ([`percpu_ref_tryget_live`], [`percpu_ref_kill`], ...),
//!   `refcount_t` ([`Refcount`]: [`refcount_inc`], [`refcount_inc_not_zero`],
//!   [`refcount_dec_and_test`], ...) and [`Kref`] ([`kref_get`], [`kref_get_unless_zero`],
//!   [`kref_put`]) with the kernel's weaker-than-atomic orderings and refcount_t's warnings.
//! * RCU: [`rcu_read_lock`], [`synchronize_rcu`], [`rcu_assign_pointer`]/[`rcu_dereference`],
//!   [`list_add_rcu`]/[`list_del_rcu`]/[`list_for_each_entry_rcu`], [`hlist_add_head_rcu`]/
//!   [`hlist_del_init_rcu`]/[`hlist_for_each_entry_rcu`]. SRCU behind one API
//!   ([`srcu_read_lock`], [`synchronize_srcu`], ...) with classic, tree and naive implementations
//!   ([`SrcuFlavor`]), each word by word.
//! * Lists: [`ListHead`], [`HlistHead`]/[`HlistNode`].
//! * Oracles: [`bug_on`], [`warn_on`].
//!
//! Every operation is a scheduling point. Each access records its kind, which drives the
//! data-race detector (KCSAN's rule over happens-before) and, under the `lkmm` memory model, which
//! stores a load may read.

mod completion;
mod cpu;
mod heap;
mod list;
mod mem;
mod mutex;
mod percpu_ref;
mod rcu;
mod refcount;
mod spinlock;
pub mod srcu;

pub use completion::{complete, init_completion, wait_for_completion, Completion};
pub use rcu::{
    hlist_add_head_rcu, hlist_del_init_rcu, hlist_for_each_entry_rcu, list_add_rcu, list_del_rcu,
    list_for_each_entry_rcu, rcu_assign_pointer, rcu_dereference, rcu_dereference_protected,
    rcu_init_pointer, rcu_read_lock, rcu_read_lock_sched, rcu_read_unlock, rcu_read_unlock_sched,
    synchronize_rcu, synchronize_sched,
};
pub use srcu::{
    cleanup_srcu_struct, get_state_synchronize_srcu, init_srcu_struct, poll_state_synchronize_srcu,
    srcu_barrier, srcu_dereference, srcu_read_lock, srcu_read_unlock, start_poll_synchronize_srcu,
    synchronize_srcu, synchronize_srcu_expedited, SrcuCookie, SrcuFlavor, SrcuMb, SrcuStruct,
};

pub use cpu::{
    bug_on, cpu_relax, current, schedule, set_current_state_running, set_current_state_uninterruptible,
    spawn_cpu, task_on_cpu, wake_up_process, warn_on, CpuHandle, KFunc, Task,
};
pub use heap::{
    define_static, kfree, kfree_ptr, kmalloc, kmemleak_not_leak, kzalloc, stack_alloc, stack_release, KObject,
};
pub use list::{
    hlist_add_head, hlist_del_init, hlist_empty, hlist_unhashed, init_hlist_head, init_hlist_node,
    init_list_head, list_add, list_add_tail, list_del, list_del_init, list_empty, list_first, list_for_each,
    list_for_each_safe, HlistHead, HlistNode, ListHead, LIST_POISON1, LIST_POISON2,
};
pub use mem::{
    atomic_cmpxchg, atomic_dec, atomic_dec_and_test, atomic_dec_return, atomic_inc, atomic_inc_return,
    atomic_read, atomic_set, atomic_xchg, barrier, cmpxchg, read_once, smp_acquire__after_ctrl_dep,
    smp_load_acquire, smp_mb, smp_mb__after_atomic, smp_mb__before_atomic, smp_rmb, smp_store_release,
    smp_wmb, this_cpu_add, write_once, xchg, Embed, Field, Layout, Ptr, Value, Word,
};
pub use mutex::{mutex_init, mutex_is_locked, mutex_lock, mutex_unlock, Mutex, MutexWaiter};
pub use percpu_ref::{percpu_ref_init, percpu_ref_kill, percpu_ref_put, percpu_ref_tryget_live, PercpuRef};
pub use refcount::{
    kref_get, kref_get_unless_zero, kref_init, kref_put, refcount_dec_and_test, refcount_inc,
    refcount_inc_not_zero, refcount_read, refcount_set, Kref, Refcount, REFCOUNT_SATURATED,
};
pub(crate) use spinlock::{arch_spin_lock_load, arch_spin_lock_store};
pub use spinlock::{
    down_read, down_write, downgrade_write, init_rwsem, spin_is_locked, spin_lock, spin_lock_init,
    spin_trylock, spin_unlock, up_read, up_write, RwSemaphore, Spinlock,
};
