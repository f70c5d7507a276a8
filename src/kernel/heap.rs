//! The heap: `kmalloc`/`kzalloc`/`kfree` of [`kstruct!`](crate::kstruct) objects, globals, and
//! on-stack objects whose lifetime ends with their function.

use std::panic::Location;

use super::mem::{Layout, Ptr};
use crate::engine::{self, ObjKind};

/// A modeled C struct type: what [`kstruct!`](crate::kstruct) generates.
pub trait KObject: Copy {
    /// Its layout.
    const LAYOUT: &'static Layout;
    /// The object at `p` (no check: a bad pointer fails on first access).
    fn from_ptr(p: Ptr) -> Self;
    /// Its address.
    fn ptr(self) -> Ptr;
}

/// `kmalloc(sizeof(T), GFP_KERNEL)`. The model zeroes new memory, as `kzalloc` does: reading a
/// field before it was written is not detected.
#[track_caller]
pub fn kmalloc<T: KObject>() -> T {
    T::from_ptr(engine::alloc(
        T::LAYOUT,
        ObjKind::Heap,
        "kmalloc",
        Location::caller(),
    ))
}

/// `kzalloc(sizeof(T), GFP_KERNEL)`.
#[track_caller]
pub fn kzalloc<T: KObject>() -> T {
    T::from_ptr(engine::alloc(
        T::LAYOUT,
        ObjKind::Heap,
        "kzalloc",
        Location::caller(),
    ))
}

/// `kfree(p)`. Any later access to the object fails as use-after-free, a second `kfree` as a
/// double free; `kfree(NULL)` does nothing.
#[track_caller]
pub fn kfree<T: KObject>(p: T) {
    engine::free(p.ptr(), "kfree", Location::caller())
}

/// `kfree` on a raw pointer.
#[track_caller]
pub fn kfree_ptr(p: Ptr) {
    engine::free(p, "kfree", Location::caller())
}

/// `kmemleak_not_leak(p)`: this object lives on past the execution by design.
pub fn kmemleak_not_leak<T: KObject>(p: T) {
    engine::not_leak(p.ptr())
}

/// A global (`static struct srcu_struct mmu_notifier_srcu;`): never freed, never a leak.
#[track_caller]
pub fn define_static<T: KObject>() -> T {
    T::from_ptr(engine::alloc(
        T::LAYOUT,
        ObjKind::Static,
        "DEFINE",
        Location::caller(),
    ))
}

/// A local variable whose address is taken (`struct mutex_waiter waiter;`). Release it with
/// [`stack_release`] when its function returns: later accesses are use-after-return.
#[track_caller]
pub fn stack_alloc<T: KObject>() -> T {
    T::from_ptr(engine::alloc(
        T::LAYOUT,
        ObjKind::Stack,
        "stack",
        Location::caller(),
    ))
}

/// The function that owned a [`stack_alloc`] object returns.
#[track_caller]
pub fn stack_release<T: KObject>(p: T) {
    engine::free_stack(p.ptr(), Location::caller())
}

/// Declare a modeled C struct. Each field is a [`Word`](crate::kernel::Word) or another
/// [`Embed`](crate::kernel::Embed) type (a lock, a list head); the macro generates a pointer type
/// with one accessor per field, in the order of the C declaration.
///
/// ```
/// use kgrace::kernel::{Mutex, ListHead, Word, Ptr};
/// kgrace::kstruct! {
///     /// `struct hmm_device`
///     pub struct HmmDevice("hmm_device") {
///         mirrors: ListHead,
///         mutex: Mutex,
///         ops: Word<Ptr>,
///     }
/// }
/// assert_eq!(HmmDevice::LAYOUT.len(), 2 + 5 + 1);
/// ```
#[macro_export]
macro_rules! kstruct {
    ($(#[$m:meta])* $vis:vis struct $name:ident($cname:literal) {
        $($(#[$fm:meta])* $field:ident : $fty:ty),* $(,)?
    }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        $vis struct $name(pub $crate::kernel::Ptr);

        #[allow(dead_code)]
        impl $name {
            /// The struct's layout.
            pub const LAYOUT: $crate::kernel::Layout = $crate::kernel::Layout::new($cname, &[
                $($crate::kernel::Field::new(stringify!($field), <$fty as $crate::kernel::Embed>::SLOTS)),*
            ]);
            /// NULL.
            pub const NULL: $name = $name($crate::kernel::Ptr::NULL);
            /// Whether this pointer is NULL.
            pub fn is_null(self) -> bool { self.0.is_null() }
            $(
                $(#[$fm])*
                #[doc = concat!("`->", stringify!($field), "`")]
                pub fn $field(self) -> $fty {
                    const OFF: usize = $name::LAYOUT.offset_of(stringify!($field));
                    <$fty as $crate::kernel::Embed>::at(self.0.add(OFF))
                }
            )*
        }

        impl $crate::kernel::Value for $name {
            fn to_word(self) -> u64 { self.0 .0 }
            fn from_word(w: u64) -> Self { $name($crate::kernel::Ptr(w)) }
        }

        impl $crate::kernel::KObject for $name {
            const LAYOUT: &'static $crate::kernel::Layout = &$name::LAYOUT;
            fn from_ptr(p: $crate::kernel::Ptr) -> Self { $name(p) }
            fn ptr(self) -> $crate::kernel::Ptr { self.0 }
        }
    };
}
