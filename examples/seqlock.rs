//! `seqlock`: a harness of your own, outside kgrace's registry. A 32-bit NIC driver's receive
//! path adds to a 64-bit byte counter while `ndo_get_stats64` reads it, under a seqcount.
//!
//! On a 32-bit machine a `u64` is two words, and the `add` that updates it two stores: a reader
//! between them sees the new low word with the old high word, a count off by 4 GiB. The kernel's
//! answer is `u64_stats_sync` (`include/linux/u64_stats_sync.h`, added in 2010 for the 32-bit
//! network statistics): a seqcount around every update, which readers check after their loads
//! and retry on. On 32-bit SMP its functions are the seqcount's (`include/linux/seqlock.h`):
//!
//! * `u64_stats_update_begin` is `write_seqcount_begin`: `sequence++` (odd: an update is under
//!   way), then `smp_wmb()`; `u64_stats_update_end` is `smp_wmb()`, then `sequence++` (even).
//!   Writers are serialized by the caller (here there is one).
//! * `u64_stats_fetch_begin` is `read_seqcount_begin`: spin while `sequence` is odd, then
//!   `smp_rmb()`; `u64_stats_fetch_retry` is `read_seqcount_retry`: `smp_rmb()`, then whether
//!   `sequence` moved since the begin.
//!
//! The counter starts 64 bytes short of 4 GiB and one packet of 64 bytes arrives. A reader that
//! takes its snapshot in one pass, without `u64_stats_fetch_retry` (variant `buggy`), and begins
//! just before the update (one that begins during it spins until it ends):
//!
//! ```text
//! CPU1 rx_irq                              CPU2 dev_get_stats64
//!                                          u64_stats_fetch_begin: sequence 0, even
//!                                          smp_rmb()
//! u64_stats_update_begin: sequence 0 -> 1
//! smp_wmb()
//! bytes.lo = 0 (0xffffffc0 + 64 wraps)
//!                                          lo = READ_ONCE(bytes.lo): 0, the new low word
//!                                          hi = READ_ONCE(bytes.hi): 0, the old high word
//! bytes.hi = 1 (the carry)
//! smp_wmb()
//! u64_stats_update_end: sequence 1 -> 2
//!                                          bytes = 0: neither 0xffffffc0 nor 0x100000000
//!                                          BUG: a torn snapshot
//! ```
//!
//! With `u64_stats_fetch_retry` (variant `fixed`) CPU2 reads `sequence` again after its loads,
//! finds 1 or 2, not the 0 it began with, and retries: its next pass begins at 2 and reads both
//! new words. The oracle is the snapshot's consistency: every value a reader returns is one the
//! counter held (0xffffffc0 or 0x100000000).
//!
//! What makes `fixed` pass is shown by a mutant of each part. `buggy` drops the re-check: it
//! fails under either memory model. `no-rmb` keeps the re-check but drops the reader's two
//! `smp_rmb()`: under sequential consistency nothing changes, so it pins `lkmm`, where CPU2 may
//! read `sequence` 2 and still the old low word (its loads are no longer ordered after the
//! sequence load), or a new word and then a stale `sequence` 0: a torn snapshot that passes the
//! re-check. The writer's `smp_wmb()` is not shown needed: kgrace's `lkmm` machine never
//! reorders two stores of one CPU (crate docs, "Weak memory"), so its mutant would pass.
//!
//! KCSAN treats the accesses inside a seqcount section as marked (`kcsan_nestable_atomic_begin`
//! in the writer, `kcsan_atomic_next` after `read_seqcount_begin`): the race the re-check
//! resolves is no data race to it. So they are `READ_ONCE`/`WRITE_ONCE` here, and the writer's
//! plain `sequence++` a `WRITE_ONCE` of the value it read.
//!
//! Run it: `cargo run --release --example seqlock -- list`, `... -- run seqlock --variant buggy`
//! (exit 1 and a trace), `... -- replay TRACE` (exit 1, "reproduced"), `... -- run --all`.

use kgrace::harness::{Body, Config, Expected, Harness, Variant};
use kgrace::kernel::*;
use kgrace::{FailureKind, MemoryModel};

/// This binary's registry: what `kgrace::cli::main` lists, runs and replays.
pub static HARNESSES: &[Harness] = &[Harness {
    name: "seqlock",
    thread: "example: u64_stats_sync on 32-bit, include/linux/u64_stats_sync.h",
    question: "does a reader of a two-word 64-bit counter need u64_stats_fetch_retry and its \
               smp_rmb()s to get a value the counter held?",
    variants: &[
        Variant {
            name: "buggy",
            expected: Expected::Fails(FailureKind::Bug),
            summary: "the reader takes its snapshot in one pass, without u64_stats_fetch_retry",
            config: Config::DEFAULT,
        },
        Variant {
            name: "fixed",
            expected: Expected::Passes,
            summary: "the kernel's reader: u64_stats_fetch_begin, the loads, \
                      u64_stats_fetch_retry, again while it says so",
            config: Config::DEFAULT,
        },
        Variant {
            name: "no-rmb",
            expected: Expected::Fails(FailureKind::Bug),
            summary: "fixed's mutant: the reader's smp_rmb()s dropped (lkmm: under sc it \
                      passes)",
            config: Config::DEFAULT.with_memory(MemoryModel::Lkmm),
        },
    ],
    body: Body::new(body),
}];

kgrace::kstruct! {
    /// A driver's per-queue receive statistics: `struct u64_stats_sync syncp` (its seqcount's
    /// `sequence`) and `u64_stats_t bytes`, two 32-bit words on a 32-bit machine.
    struct RxStats("rx_stats") {
        syncp: Word<u64>,
        bytes_lo: Word<u64>,
        bytes_hi: Word<u64>,
    }
}

/// The counter before the packet: 64 bytes short of the carry into the high word.
const BYTES_BEFORE: u64 = 0xffff_ffc0;
/// The packet's length.
const LEN: u64 = 64;

/// How the reader takes its snapshot.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Reader {
    /// One pass, no `u64_stats_fetch_retry`.
    OnePass,
    /// The kernel's retry loop.
    Retry,
    /// The retry loop without the `smp_rmb()`s.
    RetryNoRmb,
}

/// `write_seqcount_begin`.
fn u64_stats_update_begin(s: RxStats) {
    let _f = KFunc::enter("u64_stats_update_begin");
    // Only the writer stores `sequence`: its own load needs no marking.
    let seq = s.syncp().load();
    write_once(s.syncp(), seq + 1);
    smp_wmb();
}

/// `write_seqcount_end`.
fn u64_stats_update_end(s: RxStats) {
    let _f = KFunc::enter("u64_stats_update_end");
    smp_wmb();
    let seq = s.syncp().load();
    write_once(s.syncp(), seq + 1);
}

/// `u64_stats_add` on 32-bit: the add with carry, the low word stored first.
fn u64_stats_add(s: RxStats, len: u64) {
    let lo = s.bytes_lo().load();
    let hi = s.bytes_hi().load();
    let sum = ((hi << 32) | lo) + len;
    write_once(s.bytes_lo(), sum & 0xffff_ffff);
    write_once(s.bytes_hi(), sum >> 32);
}

/// `read_seqcount_begin`: wait for an even `sequence`, then order the loads after it.
fn u64_stats_fetch_begin(s: RxStats, rmb: bool) -> u64 {
    let _f = KFunc::enter("u64_stats_fetch_begin");
    let seq = loop {
        let seq = read_once(s.syncp());
        if seq & 1 == 0 {
            break seq;
        }
        cpu_relax();
    };
    if rmb {
        smp_rmb();
    }
    seq
}

/// `read_seqcount_retry`: whether an update ran since `start`, the loads ordered before the check.
fn u64_stats_fetch_retry(s: RxStats, start: u64, rmb: bool) -> bool {
    let _f = KFunc::enter("u64_stats_fetch_retry");
    if rmb {
        smp_rmb();
    }
    read_once(s.syncp()) != start
}

/// The receive path: count one packet.
fn rx_irq(s: RxStats) {
    let _f = KFunc::enter("rx_irq");
    u64_stats_update_begin(s);
    u64_stats_add(s, LEN);
    u64_stats_update_end(s);
}

/// `ndo_get_stats64`: the byte count.
fn dev_get_stats64(s: RxStats, reader: Reader) -> u64 {
    let _f = KFunc::enter("dev_get_stats64");
    let rmb = reader != Reader::RetryNoRmb;
    loop {
        let start = u64_stats_fetch_begin(s, rmb);
        let lo = read_once(s.bytes_lo());
        let hi = read_once(s.bytes_hi());
        if reader == Reader::OnePass || !u64_stats_fetch_retry(s, start, rmb) {
            return (hi << 32) | lo;
        }
    }
}

fn body(variant: &'static str) {
    let reader = match variant {
        "buggy" => Reader::OnePass,
        "fixed" => Reader::Retry,
        "no-rmb" => Reader::RetryNoRmb,
        v => unreachable!("no variant {v}"),
    };
    let stats: RxStats = kzalloc();
    stats.bytes_lo().store(BYTES_BEFORE);
    let writer = spawn_cpu("rx_irq", move || rx_irq(stats));
    let reader = spawn_cpu("dev_get_stats64", move || {
        let bytes = dev_get_stats64(stats, reader);
        bug_on(
            bytes != BYTES_BEFORE && bytes != BYTES_BEFORE + LEN,
            "a torn snapshot: the bytes read are a value the counter never held",
        );
    });
    writer.join();
    reader.join();
    kfree(stats);
}

/// The whole `kgrace` command line over this binary's harnesses.
#[allow(dead_code)] // tests/user_harness.rs includes this file for HARNESSES, not for main.
fn main() -> std::process::ExitCode {
    kgrace::cli::main(HARNESSES)
}
