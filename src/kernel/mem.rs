//! Modeled memory: addresses, words, layouts, and every kind of access.

use std::marker::PhantomData;
use std::panic::Location;

use crate::engine::{self, Fence, Kind, SLOT_BITS};

/// An address in modeled memory. `Ptr::NULL` is 0; others name an object and a word inside it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Ptr(pub u64);

impl Ptr {
    /// The NULL pointer.
    pub const NULL: Ptr = Ptr(0);

    /// Whether this is NULL.
    pub fn is_null(self) -> bool {
        self.0 == 0
    }

    /// The address `words` words further on (pointer arithmetic inside an object).
    pub const fn add(self, words: usize) -> Ptr {
        Ptr(self.0 + words as u64)
    }

    /// The address `words` words back (`container_of`).
    pub const fn sub(self, words: usize) -> Ptr {
        Ptr(self.0 - words as u64)
    }

    /// The start of the object this address points into.
    pub fn object(self) -> Ptr {
        Ptr(self.0 & !((1u64 << SLOT_BITS) - 1))
    }
}

/// A type that fits in one modeled word: integers, `bool`, pointers, and pointers to
/// [`kstruct!`](crate::kstruct) types.
pub trait Value: Copy {
    /// The word's bits for this value.
    fn to_word(self) -> u64;
    /// The value these bits hold.
    fn from_word(w: u64) -> Self;
}

macro_rules! int_value {
    ($($t:ty),*) => {$(
        impl Value for $t {
            #[inline]
            fn to_word(self) -> u64 { self as u64 }
            #[inline]
            fn from_word(w: u64) -> Self { w as $t }
        }
    )*};
}
int_value!(u8, u16, u32, u64, usize, i8, i16, i32, i64, isize);

impl Value for bool {
    fn to_word(self) -> u64 {
        self as u64
    }
    fn from_word(w: u64) -> Self {
        w != 0
    }
}

impl Value for Ptr {
    fn to_word(self) -> u64 {
        self.0
    }
    fn from_word(w: u64) -> Self {
        Ptr(w)
    }
}

/// One named field of a [`Layout`], spanning one word per entry of `slots` (their sub-names:
/// `""` for a plain word, `"count"`, `"wait_lock"`, ... for an embedded lock).
#[derive(Clone, Copy, Debug)]
pub struct Field {
    /// The C field name.
    pub name: &'static str,
    /// Names of the words inside the field.
    pub slots: &'static [&'static str],
}

impl Field {
    /// A field named `name` made of `slots`.
    pub const fn new(name: &'static str, slots: &'static [&'static str]) -> Self {
        Field { name, slots }
    }
}

/// The layout of a modeled C struct: its name and fields, in order. Built by
/// [`kstruct!`](crate::kstruct).
#[derive(Clone, Copy, Debug)]
pub struct Layout {
    /// The C struct name, as failures print it (`hmm_device`).
    pub name: &'static str,
    /// The fields, in declaration order.
    pub fields: &'static [Field],
}

const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

impl Layout {
    /// A layout named `name` with `fields`.
    pub const fn new(name: &'static str, fields: &'static [Field]) -> Self {
        Layout { name, fields }
    }

    /// Size in words.
    pub const fn len(&self) -> usize {
        let mut n = 0;
        let mut i = 0;
        while i < self.fields.len() {
            n += self.fields[i].slots.len();
            i += 1;
        }
        n
    }

    /// Whether the layout has no words.
    pub const fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Word offset of the field called `name`; fails to compile (in const context) if absent.
    pub const fn offset_of(&self, name: &str) -> usize {
        let mut n = 0;
        let mut i = 0;
        while i < self.fields.len() {
            if str_eq(self.fields[i].name, name) {
                return n;
            }
            n += self.fields[i].slots.len();
            i += 1;
        }
        panic!("no such field")
    }

    /// The field and sub-name of the word at `off`.
    pub fn slot_name(&self, off: usize) -> Option<(&'static str, &'static str)> {
        let mut n = 0;
        for f in self.fields {
            if off < n + f.slots.len() {
                return Some((f.name, f.slots[off - n]));
            }
            n += f.slots.len();
        }
        None
    }
}

/// Something that can be embedded in a [`kstruct!`](crate::kstruct): a word, a lock, a list head.
pub trait Embed: Copy {
    /// The names of its words; their number is its size.
    const SLOTS: &'static [&'static str];
    /// The embedded object at `base`.
    fn at(base: Ptr) -> Self;
}

/// One machine word of type `T` in modeled memory: a struct field or a global. Every access
/// names its kind; see the free functions of [`crate::kernel`].
pub struct Word<T = u64> {
    addr: Ptr,
    _t: PhantomData<fn() -> T>,
}

impl<T> Clone for Word<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Word<T> {}
impl<T> std::fmt::Debug for Word<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Word({:#x})", self.addr.0)
    }
}

impl<T> Embed for Word<T> {
    const SLOTS: &'static [&'static str] = &[""];
    fn at(base: Ptr) -> Self {
        Word {
            addr: base,
            _t: PhantomData,
        }
    }
}

impl<T: Value> Word<T> {
    /// The word's address (`&x`).
    pub fn addr(self) -> Ptr {
        self.addr
    }

    /// A plain C load: `x`.
    #[track_caller]
    pub fn load(self) -> T {
        T::from_word(engine::access(
            self.addr.0,
            Kind::Plain,
            "load",
            false,
            Location::caller(),
            |v| (v, None),
        ))
    }

    /// Where a plain value loaded earlier as `first` is used again: the compiler may load `x`
    /// once more instead of keeping `first` in a register (`docs/state_in_sysfs.md`, §(a), Jason's
    /// "big bad compiler"). Under the refetch configuration it does, and the second load may see
    /// another CPU's store; otherwise this is `first` and no access at all.
    ///
    /// ```text
    /// let cxlm = cxlmd.cxlm().load();
    /// if cxlm.is_null() { return -ENXIO; }
    /// let cxlm = cxlmd.cxlm().refetch(cxlm); // the use: perhaps a second load
    /// ```
    #[track_caller]
    pub fn refetch(self, first: T) -> T {
        if !engine::config().refetch {
            return first;
        }
        T::from_word(engine::access(
            self.addr.0,
            Kind::Plain,
            "load (refetched)",
            false,
            Location::caller(),
            |v| (v, None),
        ))
    }

    /// A plain C store: `x = v`.
    #[track_caller]
    pub fn store(self, v: T) {
        let w = v.to_word();
        engine::access(
            self.addr.0,
            Kind::Plain,
            "store",
            true,
            Location::caller(),
            |_| (0, Some(w)),
        );
    }
}

#[track_caller]
fn read(addr: Ptr, kind: Kind, op: &'static str) -> u64 {
    engine::access(addr.0, kind, op, false, Location::caller(), |v| (v, None))
}

#[track_caller]
fn write(addr: Ptr, kind: Kind, op: &'static str, val: u64) {
    engine::access(addr.0, kind, op, true, Location::caller(), |_| (0, Some(val)));
}

#[track_caller]
fn rmw(addr: Ptr, kind: Kind, op: &'static str, f: impl FnOnce(u64) -> (u64, Option<u64>)) -> u64 {
    engine::access(addr.0, kind, op, true, Location::caller(), f)
}

/// `this_cpu_inc(x)` / `__this_cpu_inc(x)` on this CPU's copy of a per-CPU counter: an
/// unordered RMW that only its own CPU performs.
#[track_caller]
pub fn this_cpu_add(x: Word<u64>, delta: u64) {
    rmw(x.addr, Kind::RmwRelaxed, "this_cpu_add", |v| {
        let n = v.wrapping_add(delta);
        (n, Some(n))
    });
}

/// `READ_ONCE(x)`.
#[track_caller]
pub fn read_once<T: Value>(x: Word<T>) -> T {
    T::from_word(read(x.addr, Kind::Once, "READ_ONCE"))
}

/// `WRITE_ONCE(x, v)`.
#[track_caller]
pub fn write_once<T: Value>(x: Word<T>, v: T) {
    write(x.addr, Kind::Once, "WRITE_ONCE", v.to_word())
}

/// `smp_load_acquire(&x)`.
#[track_caller]
pub fn smp_load_acquire<T: Value>(x: Word<T>) -> T {
    T::from_word(read(x.addr, Kind::Acquire, "smp_load_acquire"))
}

/// `smp_store_release(&x, v)`.
#[track_caller]
pub fn smp_store_release<T: Value>(x: Word<T>, v: T) {
    write(x.addr, Kind::Release, "smp_store_release", v.to_word())
}

/// `atomic_read(&v)`.
#[track_caller]
pub fn atomic_read(v: Word<i64>) -> i64 {
    read(v.addr, Kind::Once, "atomic_read") as i64
}

/// `atomic_set(&v, i)`.
#[track_caller]
pub fn atomic_set(v: Word<i64>, i: i64) {
    write(v.addr, Kind::Once, "atomic_set", i as u64)
}

/// `atomic_inc(&v)`: unordered.
#[track_caller]
pub fn atomic_inc(v: Word<i64>) {
    rmw(v.addr, Kind::RmwRelaxed, "atomic_inc", |o| {
        (0, Some((o as i64 + 1) as u64))
    });
}

/// `atomic_dec(&v)`: unordered.
#[track_caller]
pub fn atomic_dec(v: Word<i64>) {
    rmw(v.addr, Kind::RmwRelaxed, "atomic_dec", |o| {
        (0, Some((o as i64 - 1) as u64))
    });
}

/// The `atomic_add_return` family: add `delta` with the ordering of `kind`, return the new value.
#[track_caller]
fn add_return(v: Word<i64>, delta: i64, kind: Kind, op: &'static str) -> i64 {
    rmw(v.addr, kind, op, |o| {
        let n = (o as i64 + delta) as u64;
        (n, Some(n))
    }) as i64
}

/// The `atomic_xchg` family: store `new` with the ordering of `kind`, return the old value.
#[track_caller]
fn xchg_i64(v: Word<i64>, new: i64, kind: Kind, op: &'static str) -> i64 {
    rmw(v.addr, kind, op, |o| (o, Some(new as u64))) as i64
}

/// `atomic_inc_return(&v)`: fully ordered, returns the new value.
#[track_caller]
pub fn atomic_inc_return(v: Word<i64>) -> i64 {
    add_return(v, 1, Kind::RmwFull, "atomic_inc_return")
}

/// `atomic_dec_return(&v)`: fully ordered, returns the new value.
#[track_caller]
pub fn atomic_dec_return(v: Word<i64>) -> i64 {
    add_return(v, -1, Kind::RmwFull, "atomic_dec_return")
}

/// `atomic_dec_and_test(&v)`: fully ordered; true when the new value is 0.
#[track_caller]
pub fn atomic_dec_and_test(v: Word<i64>) -> bool {
    add_return(v, -1, Kind::RmwFull, "atomic_dec_and_test") == 0
}

/// `atomic_xchg(&v, new)`: fully ordered, returns the old value.
#[track_caller]
pub fn atomic_xchg(v: Word<i64>, new: i64) -> i64 {
    xchg_i64(v, new, Kind::RmwFull, "atomic_xchg")
}

/// `atomic_cmpxchg(&v, old, new)`: fully ordered when it succeeds, unordered when it fails;
/// returns the value it found.
#[track_caller]
pub fn atomic_cmpxchg(v: Word<i64>, old: i64, new: i64) -> i64 {
    cmpxchg_word(v.addr, old as u64, new as u64, Kind::RmwFull, "atomic_cmpxchg") as i64
}

/// `xchg(&x, new)` on any word: fully ordered, returns the old value.
#[track_caller]
pub fn xchg<T: Value>(x: Word<T>, new: T) -> T {
    let n = new.to_word();
    T::from_word(rmw(x.addr, Kind::RmwFull, "xchg", |o| (o, Some(n))))
}

/// `cmpxchg(&x, old, new)` on any word: returns the value found (equal to `old` on success).
#[track_caller]
pub fn cmpxchg<T: Value>(x: Word<T>, old: T, new: T) -> T {
    T::from_word(cmpxchg_word(
        x.addr,
        old.to_word(),
        new.to_word(),
        Kind::RmwFull,
        "cmpxchg",
    ))
}

/// The `cmpxchg` family, with the ordering of `kind` when it succeeds.
#[track_caller]
fn cmpxchg_word(addr: Ptr, old: u64, new: u64, kind: Kind, op: &'static str) -> u64 {
    // A failed cmpxchg is an unordered marked read in LKMM: the engine drops the ordering of an
    // RMW that stores nothing. It reads the newest value (under `lkmm` too: stronger than LKMM,
    // which lets it read an older one).
    rmw(
        addr,
        kind,
        op,
        |o| {
            if o == old {
                (o, Some(new))
            } else {
                (o, None)
            }
        },
    )
}

/// `smp_mb()`: a full fence.
#[track_caller]
pub fn smp_mb() {
    engine::fence(Fence::Mb, "smp_mb", Location::caller())
}

/// `smp_mb()` recorded at `caller` (for kernel code that wraps it).
pub(crate) fn smp_mb_at(caller: &'static Location<'static>) {
    engine::fence(Fence::Mb, "smp_mb", caller)
}

/// `smp_rmb()`: orders earlier loads before later loads.
#[track_caller]
pub fn smp_rmb() {
    engine::fence(Fence::Rmb, "smp_rmb", Location::caller())
}

/// `smp_acquire__after_ctrl_dep()`: after a conditional branch on a loaded value, makes the
/// control dependency an acquire. The control dependency orders the load before later stores;
/// the kernel defines this as `smp_rmb()` after it (`include/asm-generic/barrier.h`), which adds
/// load-to-load order, and the LKMM treats it so. The model has no control dependencies, so this
/// fence stands for both: what the loads before it read is acquired for every later access.
/// `refcount_dec_and_test` issues it when it drops the last reference.
#[allow(non_snake_case)]
#[track_caller]
pub fn smp_acquire__after_ctrl_dep() {
    engine::fence(
        Fence::AcquireCtrlDep,
        "smp_acquire__after_ctrl_dep",
        Location::caller(),
    )
}

/// `smp_wmb()`: orders earlier stores before later stores.
#[track_caller]
pub fn smp_wmb() {
    engine::fence(Fence::Wmb, "smp_wmb", Location::caller())
}

/// `smp_mb__before_atomic()`: orders what comes before against the RMW that follows. Modeled as
/// `smp_mb()`, which is stronger when no RMW follows.
#[allow(non_snake_case)]
#[track_caller]
pub fn smp_mb__before_atomic() {
    engine::fence(Fence::Mb, "smp_mb__before_atomic", Location::caller())
}

/// `smp_mb__after_atomic()`: orders the RMW before it against what follows (also after a failed
/// `cmpxchg`). Modeled as `smp_mb()`.
#[allow(non_snake_case)]
#[track_caller]
pub fn smp_mb__after_atomic() {
    engine::fence(Fence::Mb, "smp_mb__after_atomic", Location::caller())
}

/// `barrier()`: restrains the compiler only; a scheduling point that orders nothing.
#[track_caller]
pub fn barrier() {
    engine::fence(Fence::Barrier, "barrier", Location::caller())
}

/// A conditional branch on a value loaded just before, with stores after it: LKMM's control
/// dependency orders the load before those stores (not before later loads). Kernel model code
/// declares it where the kernel relies on one (`srcu_invoke_callbacks`); a no-op step in traces.
#[track_caller]
pub(crate) fn ctrl_dep() {
    engine::fence(Fence::CtrlDep, "ctrl_dep", Location::caller())
}

/// `atomic_dec_return_acquire(&v)`: an acquire, returns the new value.
#[track_caller]
pub fn atomic_dec_return_acquire(v: Word<i64>) -> i64 {
    add_return(v, -1, Kind::RmwAcquire, "atomic_dec_return_acquire")
}

/// `atomic_inc_return_release(&v)`: a release, returns the new value.
#[track_caller]
pub fn atomic_inc_return_release(v: Word<i64>) -> i64 {
    add_return(v, 1, Kind::RmwRelease, "atomic_inc_return_release")
}

/// `atomic_xchg_acquire(&v, new)`: an acquire, returns the old value.
#[track_caller]
pub fn atomic_xchg_acquire(v: Word<i64>, new: i64) -> i64 {
    xchg_i64(v, new, Kind::RmwAcquire, "atomic_xchg_acquire")
}

/// `atomic_cmpxchg_acquire(&v, old, new)`: an acquire when it succeeds, unordered when it fails.
#[track_caller]
pub fn atomic_cmpxchg_acquire(v: Word<i64>, old: i64, new: i64) -> i64 {
    cmpxchg_word(
        v.addr,
        old as u64,
        new as u64,
        Kind::RmwAcquire,
        "atomic_cmpxchg_acquire",
    ) as i64
}

/// `atomic_set_release(&v, i)`: a release store.
#[track_caller]
pub fn atomic_set_release(v: Word<i64>, i: i64) {
    write(v.addr, Kind::Release, "atomic_set_release", i as u64)
}
