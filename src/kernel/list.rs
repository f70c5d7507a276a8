//! `struct list_head` and `struct hlist_head`/`hlist_node`, word by word, with the kernel's
//! access kinds (the `WRITE_ONCE`s of `__list_add` and `__list_del`, `READ_ONCE` in `list_empty`).

use super::mem::{read_once, write_once, Embed, Ptr, Word};

/// `LIST_POISON1`/`LIST_POISON2`: what `list_del` leaves in a removed entry, so that a later
/// walk through it faults (here: fails as a bad address).
pub const LIST_POISON1: Ptr = Ptr(0x100);
/// See [`LIST_POISON1`].
pub const LIST_POISON2: Ptr = Ptr(0x122);

/// `struct list_head { next, prev }`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListHead(Ptr);

impl Embed for ListHead {
    const SLOTS: &'static [&'static str] = &["next", "prev"];
    fn at(base: Ptr) -> Self {
        ListHead(base)
    }
}

impl ListHead {
    /// The list head at `p` (a `struct list_head *` read from memory).
    pub fn from_ptr(p: Ptr) -> Self {
        ListHead(p)
    }
    /// Its address.
    pub fn addr(self) -> Ptr {
        self.0
    }
    /// `->next`.
    pub fn next(self) -> Word<Ptr> {
        Word::at(self.0)
    }
    /// `->prev`.
    pub fn prev(self) -> Word<Ptr> {
        Word::at(self.0.add(1))
    }
}

/// `INIT_LIST_HEAD(list)`.
#[track_caller]
pub fn init_list_head(list: ListHead) {
    write_once(list.next(), list.addr());
    list.prev().store(list.addr());
}

#[track_caller]
fn __list_add(new: ListHead, prev: ListHead, next: ListHead) {
    next.prev().store(new.addr());
    new.next().store(next.addr());
    new.prev().store(prev.addr());
    write_once(prev.next(), new.addr());
}

/// `list_add(new, head)`: insert after `head`.
#[track_caller]
pub fn list_add(new: ListHead, head: ListHead) {
    let next = ListHead(head.next().load());
    __list_add(new, head, next);
}

/// `list_add_tail(new, head)`: insert before `head`.
#[track_caller]
pub fn list_add_tail(new: ListHead, head: ListHead) {
    let prev = ListHead(head.prev().load());
    __list_add(new, prev, head);
}

#[track_caller]
fn __list_del_entry(entry: ListHead) {
    let prev = ListHead(entry.prev().load());
    let next = ListHead(entry.next().load());
    next.prev().store(prev.addr());
    write_once(prev.next(), next.addr());
}

/// `list_del(entry)`: unlink and poison.
#[track_caller]
pub fn list_del(entry: ListHead) {
    __list_del_entry(entry);
    entry.next().store(LIST_POISON1);
    entry.prev().store(LIST_POISON2);
}

/// `list_del_init(entry)`: unlink and point at itself.
#[track_caller]
pub fn list_del_init(entry: ListHead) {
    __list_del_entry(entry);
    init_list_head(entry);
}

/// `list_empty(head)`: `READ_ONCE(head->next) == head`.
#[track_caller]
pub fn list_empty(head: ListHead) -> bool {
    read_once(head.next()) == head.addr()
}

/// `list_first_entry`'s pointer: `head->next` (a plain load), still to pass to
/// [`container_of!`](crate::container_of).
#[track_caller]
pub fn list_first(head: ListHead) -> Ptr {
    head.next().load()
}

/// `list_for_each(pos, head)` (and `list_for_each_entry`): the `list_head`s after `head`, each
/// reached through a plain load of the previous `->next`. Use `container_of!` on each. Lazy: a
/// `break` loads nothing more.
#[track_caller]
pub fn list_for_each(head: ListHead) -> impl Iterator<Item = ListHead> {
    let caller = std::panic::Location::caller();
    let mut pos = head;
    std::iter::from_fn(move || {
        let next = load_next(pos, caller);
        if next == head.addr() {
            return None;
        }
        pos = ListHead(next);
        Some(pos)
    })
}

/// `list_for_each_safe(pos, n, head)` (and `list_for_each_entry_safe`): like [`list_for_each`],
/// but each entry's `->next` is loaded before the entry is handed out, so the loop body may
/// unlink or free it.
#[track_caller]
pub fn list_for_each_safe(head: ListHead) -> impl Iterator<Item = ListHead> {
    let caller = std::panic::Location::caller();
    let mut next = None;
    std::iter::from_fn(move || {
        let pos = match next {
            None => load_next(head, caller),
            Some(n) => n,
        };
        if pos == head.addr() {
            return None;
        }
        next = Some(load_next(ListHead(pos), caller));
        Some(ListHead(pos))
    })
}

fn load_next(pos: ListHead, caller: &'static std::panic::Location<'static>) -> Ptr {
    Ptr(crate::engine::access(
        pos.next().addr().0,
        crate::engine::Kind::Plain,
        "load",
        false,
        caller,
        |v| (v, None),
    ))
}

/// `container_of(ptr, type, member)`: the object of `$ty` whose field `$member` is at `$ptr`.
#[macro_export]
macro_rules! container_of {
    ($ptr:expr, $ty:ident, $member:ident) => {
        $ty($crate::kernel::Ptr::sub(
            $ptr,
            $ty::LAYOUT.offset_of(stringify!($member)),
        ))
    };
}

/// `struct hlist_head { first }`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HlistHead(Ptr);

impl Embed for HlistHead {
    const SLOTS: &'static [&'static str] = &["first"];
    fn at(base: Ptr) -> Self {
        HlistHead(base)
    }
}

impl HlistHead {
    /// `->first`.
    pub fn first(self) -> Word<Ptr> {
        Word::at(self.0)
    }
}

/// `struct hlist_node { next, pprev }`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HlistNode(Ptr);

impl Embed for HlistNode {
    const SLOTS: &'static [&'static str] = &["next", "pprev"];
    fn at(base: Ptr) -> Self {
        HlistNode(base)
    }
}

impl HlistNode {
    /// The node at `p`.
    pub fn from_ptr(p: Ptr) -> Self {
        HlistNode(p)
    }
    /// Its address.
    pub fn addr(self) -> Ptr {
        self.0
    }
    /// `->next`.
    pub fn next(self) -> Word<Ptr> {
        Word::at(self.0)
    }
    /// `->pprev`: the address of the word that points at this node.
    pub fn pprev(self) -> Word<Ptr> {
        Word::at(self.0.add(1))
    }
}

/// `INIT_HLIST_NODE(n)`.
#[track_caller]
pub fn init_hlist_node(n: HlistNode) {
    n.next().store(Ptr::NULL);
    n.pprev().store(Ptr::NULL);
}

/// `INIT_HLIST_HEAD(h)`: `h->first = NULL`.
#[track_caller]
pub fn init_hlist_head(h: HlistHead) {
    h.first().store(Ptr::NULL);
}

/// `hlist_unhashed(n)`: `!n->pprev`.
#[track_caller]
pub fn hlist_unhashed(n: HlistNode) -> bool {
    n.pprev().load().is_null()
}

/// `hlist_empty(h)`: `!READ_ONCE(h->first)`.
#[track_caller]
pub fn hlist_empty(h: HlistHead) -> bool {
    read_once(h.first()).is_null()
}

/// `hlist_add_head(n, h)`.
#[track_caller]
pub fn hlist_add_head(n: HlistNode, h: HlistHead) {
    let first = h.first().load();
    n.next().store(first);
    if !first.is_null() {
        HlistNode(first).pprev().store(n.next().addr());
    }
    write_once(h.first(), n.addr());
    n.pprev().store(h.first().addr());
}

#[track_caller]
pub(super) fn __hlist_del(n: HlistNode) {
    let next = n.next().load();
    let pprev = n.pprev().load();
    write_once(Word::<Ptr>::at(pprev), next);
    if !next.is_null() {
        HlistNode(next).pprev().store(pprev);
    }
}

/// `hlist_del_init(n)`.
#[track_caller]
pub fn hlist_del_init(n: HlistNode) {
    if !hlist_unhashed(n) {
        __hlist_del(n);
        init_hlist_node(n);
    }
}
