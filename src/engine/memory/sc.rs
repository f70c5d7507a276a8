//! The `sc` memory model: every load reads the newest store of its location, so an execution is
//! one interleaving of its CPUs' steps (sequential consistency). It is also the `lkmm` machine's
//! record of each location's newest store, which RMWs read under either model.

use super::Msg;

/// Per slot, the newest store.
#[derive(Debug, Default)]
pub(crate) struct Newest {
    cells: Vec<Msg>,
}

impl Newest {
    pub fn reset(&mut self) {
        self.cells.clear();
    }

    pub fn alloc(&mut self, base: usize, len: usize, init: Msg) {
        debug_assert_eq!(self.cells.len(), base);
        self.cells.resize(base + len, init);
    }

    #[inline]
    pub fn get(&self, slot: usize) -> &Msg {
        &self.cells[slot]
    }

    #[inline]
    pub fn set(&mut self, slot: usize, msg: Msg) {
        self.cells[slot] = msg;
    }
}
