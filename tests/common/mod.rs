//! Workload shapes more than one test file runs.

use kgrace::kernel::*;

/// CPU0 is inside a read-side section for the whole run; a second reader may be preempted in
/// its section and finish on another CPU, so that its unlock updates another CPU's counters (with
/// `Config::srcu_migration`). The idle CPUs widen the machine the per-CPU sums walk (a tree
/// domain adds its kworkers).
pub fn migrating_reader(flavor: SrcuFlavor) {
    let ssp = init_srcu_struct(flavor);
    let idx = srcu_read_lock(ssp);
    let mover = spawn_cpu("mover", move || {
        let idx = srcu_read_lock(ssp);
        srcu_read_unlock(ssp, idx);
    });
    let updater = spawn_cpu("updater", move || synchronize_srcu(ssp));
    let idle = [(); 3].map(|()| spawn_cpu("idle", || {}));
    for cpu in idle {
        cpu.join();
    }
    mover.join();
    srcu_read_unlock(ssp, idx);
    updater.join();
    cleanup_srcu_struct(ssp);
}
