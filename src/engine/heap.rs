//! Objects: allocation, `kfree`, KASAN's use-after-free and double-free, kmemleak.
//!
//! An address is an object index above [`SLOT_BITS`] and a word offset below. Objects never share
//! or reuse slots: a late access to a freed object is always caught, never lands in a new one.

use std::fmt::Write as _;
use std::panic::Location;

use super::{local_point, me, point_on, stop_if_failed, with, Model, NULL_LAYOUT, SLOT_BITS};
use crate::failure::FailureKind;
use crate::kernel::{Layout, Ptr};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ObjKind {
    Heap,
    Static,
    Stack,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Object {
    pub layout: &'static Layout,
    pub kind: ObjKind,
    /// Invariant: `base + len <= Heap::slots`; objects never share or reuse slots.
    pub base: u32,
    pub len: u32,
    pub alloc_step: u64,
    pub alloc_cpu: u8,
    pub freed: Option<(u64, u8)>,
    pub not_leak: bool,
    /// The CPUs that have touched the object (bit per CPU): a step on it by a CPU outside the
    /// set is shared, one by the only CPU in it is local.
    pub cpus: u64,
    /// Writes to the object so far: a CPU that waits for "something in here changed" (an SRCU
    /// scan waiting for readers) compares it with the value it saw before its check.
    pub wgen: u64,
}

/// Every object of the execution.
#[derive(Debug, Default)]
pub(crate) struct Heap {
    /// Index 0 is NULL's.
    objects: Vec<Object>,
    /// Slots handed out so far.
    slots: u32,
}

impl Heap {
    pub fn reset(&mut self) {
        self.objects.clear();
        self.slots = 0;
        self.objects.push(Object {
            layout: &NULL_LAYOUT,
            kind: ObjKind::Static,
            base: 0,
            len: 0,
            alloc_step: 0,
            alloc_cpu: 0,
            freed: None,
            not_leak: true,
            cpus: !0,
            wgen: 0,
        });
    }

    pub fn get(&self, obj: usize) -> Option<&Object> {
        self.objects.get(obj)
    }

    pub fn get_mut(&mut self, obj: usize) -> Option<&mut Object> {
        self.objects.get_mut(obj)
    }

    /// Whether a CPU other than `cpu` has touched (or can reach) the object; true for bad
    /// addresses, so that their failure is a shared step.
    #[inline]
    pub fn shared_with_others(&self, obj: usize, cpu: usize) -> bool {
        self.objects.get(obj).is_none_or(|o| o.cpus & !(1 << cpu) != 0)
    }

    /// The live object a word value points into, if it is a pointer at all: how the engine
    /// knows which load produced a pointer (for address dependencies) and which stores publish
    /// one.
    #[inline]
    pub fn pointee(&self, v: u64) -> Option<usize> {
        let target = (v >> SLOT_BITS) as usize;
        if target == 0 {
            return None;
        }
        let o = self.objects.get(target)?;
        ((v & ((1 << SLOT_BITS) - 1)) < u64::from(o.len) && o.freed.is_none()).then_some(target)
    }

    /// `v`, just stored, may be a pointer: if it points into an object, that object is shared
    /// (publish, then initialize: steps on it are shared from now on, even by its allocator).
    #[inline]
    pub fn escape(&mut self, v: u64) {
        if let Some(t) = self.pointee(v) {
            self.objects[t].cpus = !0;
        }
    }

    /// Every existing object becomes shared (a new CPU may reach anything its parent could).
    pub fn share_all(&mut self) {
        for o in &mut self.objects {
            o.cpus = !0;
        }
    }

    /// `hmm_device#1`.
    pub fn object_name(&self, addr: u64) -> String {
        let obj = (addr >> SLOT_BITS) as usize;
        format!(
            "{}#{}",
            self.objects.get(obj).map(|o| o.layout.name).unwrap_or("?"),
            obj
        )
    }

    /// `hmm_device#1.mutex.wait_lock`: the object's type and instance, and the field path.
    pub fn describe(&self, addr: u64) -> String {
        let obj = (addr >> SLOT_BITS) as usize;
        let off = (addr & ((1 << SLOT_BITS) - 1)) as usize;
        if addr == 0 {
            return "NULL".into();
        }
        match self.objects.get(obj) {
            Some(o) => {
                let mut s = format!("{}#{}", o.layout.name, obj);
                // A one-word object with an unnamed field (a litmus test's `int x`) is its name.
                if let Some((field, sub)) = o.layout.slot_name(off).filter(|(f, _)| !f.is_empty()) {
                    s.push('.');
                    s.push_str(field);
                    if !sub.is_empty() {
                        s.push('.');
                        s.push_str(sub);
                    }
                } else if off != 0 {
                    let _ = write!(s, "+{off}");
                }
                s
            }
            None => format!("{addr:#x}"),
        }
    }
}

impl Model {
    /// Resolve an address for an access to `(slot, object, cpus)`, `cpus` the CPUs that have
    /// touched the object so far ([`Object::cpus`]), or record why it cannot be accessed.
    pub(super) fn resolve(
        &mut self,
        cpu: usize,
        addr: u64,
        op: &'static str,
        write: bool,
    ) -> Option<(usize, usize, u64)> {
        let obj = (addr >> SLOT_BITS) as usize;
        let off = (addr & ((1 << SLOT_BITS) - 1)) as u32;
        let what = if write { "write" } else { "read" };
        let Some(o) = self.heap.objects.get(obj).filter(|_| obj != 0) else {
            let msg = format!(
                "BUG: kernel NULL pointer dereference, address: {addr:#x}\n{what} by {} in {} ({op})",
                self.cpu_label(cpu),
                self.func_or(cpu, op)
            );
            self.record_failure(FailureKind::NullDeref, cpu, msg);
            return None;
        };
        if off >= o.len {
            let msg = format!(
                "BUG: out-of-bounds {what} at {} by {} in {} ({op})",
                self.heap.describe(addr),
                self.cpu_label(cpu),
                self.func_or(cpu, op)
            );
            self.record_failure(FailureKind::NullDeref, cpu, msg);
            return None;
        }
        if let Some((fstep, fcpu)) = o.freed {
            let (alloc_cpu, alloc_step) = (o.alloc_cpu, o.alloc_step);
            let msg = format!(
                "BUG: KASAN: use-after-free in {func}\n\
                 {what} of {loc} by {by} at step {step} ({op})\n\
                 allocated by {acpu} at step {astep}\n\
                 freed by {fcpu} at step {fstep}",
                func = self.func_or(cpu, op),
                loc = self.heap.describe(addr),
                by = self.cpu_label(cpu),
                step = self.step,
                acpu = self.cpu_label(alloc_cpu as usize),
                astep = alloc_step,
                fcpu = self.cpu_label(fcpu as usize),
            );
            self.record_failure(FailureKind::UseAfterFree, cpu, msg);
            return None;
        }
        Some(((o.base + off) as usize, obj, o.cpus))
    }
}

pub(crate) fn alloc(
    layout: &'static Layout,
    kind: ObjKind,
    op: &'static str,
    caller: &'static Location<'static>,
) -> Ptr {
    local_point();
    let cpu = me();
    let p = with(|m| {
        m.step += 1;
        let len = layout.len() as u32;
        let base = m.heap.slots;
        m.heap.slots += len;
        // The allocating CPU initializes the memory: its writes are ordered before the object is
        // published by any release, so they count as plain writes by it.
        let time = m.cpus[cpu].vc.get(cpu);
        m.race.alloc(base as usize, len as usize, cpu, time);
        let id = m.heap.objects.len();
        m.mem.alloc(base as usize, len as usize, id, cpu, m.step);
        m.heap.objects.push(Object {
            layout,
            kind,
            base,
            len,
            alloc_step: m.step,
            alloc_cpu: cpu as u8,
            freed: None,
            not_leak: kind != ObjKind::Heap,
            cpus: 1 << cpu,
            wgen: 0,
        });
        let p = (id as u64) << SLOT_BITS;
        m.record_event(cpu, op, p, None, None, caller);
        p
    });
    Ptr(p)
}

pub(crate) fn free(p: Ptr, op: &'static str, caller: &'static Location<'static>) {
    let cpu = me();
    point_on((p.0 >> SLOT_BITS) as usize, cpu);
    with(|m| {
        m.step += 1;
        let obj = (p.0 >> SLOT_BITS) as usize;
        if p.0 == 0 {
            // kfree(NULL) is a no-op.
            m.record_event(cpu, op, 0, None, None, caller);
            return;
        }
        let valid = obj < m.heap.objects.len() && p.0 & ((1 << SLOT_BITS) - 1) == 0;
        if !valid {
            let msg = format!(
                "BUG: {op} of an invalid pointer {} by {}",
                m.heap.describe(p.0),
                m.cpu_label(cpu)
            );
            m.record_failure(FailureKind::InvalidFree, cpu, msg);
            return;
        }
        let o = m.heap.objects[obj];
        if let Some((fstep, fcpu)) = o.freed {
            let msg = format!(
                "BUG: KASAN: double-free in {func}\n\
                 {op} of {loc} by {by} at step {step}\n\
                 allocated by {acpu} at step {astep}\n\
                 freed by {fcpu} at step {fstep}",
                func = m.func_or(cpu, op),
                loc = m.heap.describe(p.0),
                by = m.cpu_label(cpu),
                step = m.step,
                acpu = m.cpu_label(o.alloc_cpu as usize),
                astep = o.alloc_step,
                fcpu = m.cpu_label(fcpu as usize),
            );
            m.record_failure(FailureKind::DoubleFree, cpu, msg);
            m.record_event(cpu, op, p.0, None, None, caller);
            return;
        }
        if o.kind == ObjKind::Static {
            let msg = format!(
                "BUG: {op} of static object {} by {}",
                m.heap.describe(p.0),
                m.cpu_label(cpu)
            );
            m.record_failure(FailureKind::InvalidFree, cpu, msg);
            return;
        }
        // KCSAN's slab free hook: the free is a plain write of the whole object, so a free not
        // ordered after another CPU's last access to it is a data race.
        if m.config.kcsan {
            m.check_free_race(cpu, obj, op);
        }
        if m.feedback {
            let site = super::cover::site(caller, m.func(cpu), op);
            m.near.freed(obj, cpu, site);
        }
        // Accesses after this step fail as use-after-free; the object's slots are kept, never
        // reused, so a late access is always caught rather than landing in a new object.
        m.heap.objects[obj].freed = Some((m.step, cpu as u8));
        m.record_event(cpu, op, p.0, None, None, caller);
    });
    stop_if_failed();
}

/// The end of a stack object's scope: later accesses fail as use-after-free (of the stack).
pub(crate) fn free_stack(p: Ptr, caller: &'static Location<'static>) {
    let cpu = me();
    with(|m| {
        let obj = (p.0 >> SLOT_BITS) as usize;
        if obj != 0 && obj < m.heap.objects.len() && m.heap.objects[obj].freed.is_none() {
            m.heap.objects[obj].freed = Some((m.step, cpu as u8));
            m.record_event(cpu, "return", p.0, None, None, caller);
        }
    });
}

pub(crate) fn not_leak(p: Ptr) {
    with(|m| {
        let obj = (p.0 >> SLOT_BITS) as usize;
        if obj != 0 && obj < m.heap.objects.len() {
            m.heap.objects[obj].not_leak = true;
        }
    });
}

/// How many writes the object at `p` has seen: pass it to
/// [`wait_for_write`](super::task::wait_for_write) after a check that failed, so that a write
/// between the check and the wait is not missed.
pub(crate) fn generation(p: Ptr) -> u64 {
    with(|m| {
        m.heap
            .objects
            .get((p.0 >> SLOT_BITS) as usize)
            .map_or(0, |o| o.wgen)
    })
}

/// At the end of a clean execution: every heap object must have been freed.
pub(crate) fn check_leaks() {
    if super::failed() {
        return;
    }
    let cpu = me();
    with(|m| {
        let leaked: Vec<usize> = (1..m.heap.objects.len())
            .filter(|&i| {
                let o = &m.heap.objects[i];
                o.kind == ObjKind::Heap && o.freed.is_none() && !o.not_leak
            })
            .collect();
        if let Some(&first) = leaked.first() {
            let o = m.heap.objects[first];
            let names: Vec<String> = leaked
                .iter()
                .map(|&i| m.heap.describe((i as u64) << SLOT_BITS))
                .collect();
            let msg = format!(
                "kmemleak: {} unreferenced object(s) at the end of the execution: {}\n\
                 {} allocated by {} at step {}; free it, or mark it kmemleak_not_leak() if it \
                 lives on by design",
                leaked.len(),
                names.join(", "),
                names[0],
                m.cpu_label(o.alloc_cpu as usize),
                o.alloc_step
            );
            m.record_failure(FailureKind::Leak, cpu, msg);
        }
    });
}
