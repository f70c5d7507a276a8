//! Interleaving coverage (reads-from pairs), alone in its binary: the map is process-wide.

use kgrace::fuzz::{self, FuzzInput, Session};
use kgrace::sched::SplitMix64;

#[test]
fn other_schedules_read_from_other_stores() {
    let mut s = Session::new("mutex_unlock_free", "fixed").unwrap();
    fuzz::set_interleaving_coverage(false);
    fuzz::clear_interleaving_coverage();
    s.run(&FuzzInput::default());
    assert_eq!(fuzz::interleavings_seen(), 0, "coverage off: the map stays empty");

    fuzz::set_interleaving_coverage(true);
    s.run(&FuzzInput::default());
    let one = fuzz::interleavings_seen();
    assert!(one > 0, "an execution's loads read from stores");
    s.run(&FuzzInput::default());
    assert_eq!(
        fuzz::interleavings_seen(),
        one,
        "the same schedule reads from the same stores"
    );

    let mut rng = SplitMix64::new(7);
    for _ in 0..2_000 {
        let bytes: Vec<u8> = (0..24).map(|_| rng.next_u64() as u8).collect();
        s.run(&FuzzInput::decode(&bytes));
    }
    fuzz::set_interleaving_coverage(false);
    assert!(
        fuzz::interleavings_seen() > one,
        "other interleavings add reads-from pairs ({} after 2,000 schedules, {one} after one)",
        fuzz::interleavings_seen()
    );
}
