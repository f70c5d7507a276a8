//! `struct completion`: `complete` and `wait_for_completion`.

use std::panic::Location;

use super::cpu::KFunc;
use super::mem::{Embed, Ptr, Word};
use crate::engine::{self, Blocked, Kind};

/// `struct completion`, reduced to its `done` count; the waiter sleeps until it is non-zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Completion(Ptr);

impl Embed for Completion {
    const SLOTS: &'static [&'static str] = &["done"];
    fn at(base: Ptr) -> Self {
        Completion(base)
    }
}

impl Completion {
    fn done(self) -> Word<u64> {
        Word::at(self.0)
    }
}

/// `init_completion(x)`.
#[track_caller]
pub fn init_completion(x: Completion) {
    x.done().store(0);
}

/// `complete(x)`: a release; its access to `done` is the completer's last touch of `x`, so the
/// waiter may free `x` (often its own stack frame) as soon as it returns.
#[track_caller]
pub fn complete(x: Completion) {
    let _f = KFunc::enter("complete");
    engine::access(
        x.0 .0,
        Kind::RmwRelease,
        "complete",
        true,
        Location::caller(),
        |v| (v, Some(v + 1)),
    );
    engine::wake_word(x.0 .0);
}

/// `wait_for_completion(x)`: sleeps until `complete`, then consumes it (an acquire).
#[track_caller]
pub fn wait_for_completion(x: Completion) {
    let _f = KFunc::enter("wait_for_completion");
    let caller = Location::caller();
    loop {
        let got = engine::access(
            x.0 .0,
            Kind::RmwAcquire,
            "wait_for_completion",
            true,
            caller,
            |v| {
                if v > 0 {
                    (v, Some(v - 1))
                } else {
                    (v, None)
                }
            },
        );
        if got > 0 || engine::failed() {
            return;
        }
        engine::block_on(Blocked::OnWord(x.0 .0));
    }
}
