//! `state_in_sysfs` (thread 000, CXL memdev removal vs ioctl: `docs/state_in_sysfs.md`): what
//! makes its passing variants pass, each shown by a mutant that fails.

use kgrace::harness::MemoryModel;
use kgrace::sched::SchedulerSpec;
use kgrace::{Budget, Explorer, FailureKind, Report};

fn explore(variant: &str, memory: MemoryModel, seed: u64, executions: u64) -> Report {
    Explorer::new("state_in_sysfs", variant)
        .unwrap()
        .memory(memory)
        .scheduler(SchedulerSpec::Portfolio { depth: 3, seed })
        .budget(Budget::Executions(executions))
        .run()
}

fn assert_clean(variant: &str) {
    for memory in MemoryModel::ALL {
        for seed in 1..=5 {
            let r = explore(variant, memory, seed, 10_000);
            assert_eq!(r.executions, 10_000);
            if let Some(f) = r.failure {
                panic!("{variant} under {memory}, seed {seed}:\n{}", f.message);
            }
        }
    }
}

/// `state_in_sysfs` shares its word with `state_remove_uevent_sent`, which `device_del` sets
/// (`kobject_uevent_env`, a plain read-modify-write) before `kobject_del` clears the flag. Marking
/// the flag's own accesses (`once`) leaves that write racing with the ioctl's read of the word.
#[test]
fn once_marks_the_flag_but_a_sibling_bits_plain_write_still_races_with_the_read() {
    for memory in MemoryModel::ALL {
        for seed in 1..=5 {
            let f = explore("once", memory, seed, 1_000)
                .failure
                .unwrap_or_else(|| panic!("under {memory}, seed {seed}: no race found"));
            assert_eq!(f.kind, FailureKind::DataRace, "{}", f.message);
            assert!(f.message.contains("kobj_state"), "{}", f.message);
            // Reported at whichever access comes second: the sibling's write, or the ioctl's
            // read after it.
            assert!(
                f.inside("kobject_uevent_env")
                    || (f.inside("cxl_memdev_ioctl") && f.message.contains(" unbind, unordered")),
                "{}",
                f.message
            );
        }
    }
}

/// The twin: every access to the word marked, the sibling bits' too.
#[test]
fn once_word_marks_every_access_to_the_word_and_passes() {
    assert_clean("once-word");
}

/// v5.12-rc1 (before the thread): the ioctl counts itself in `cxlmd->ops_active`, but an open
/// file holds no reference on `cxlmd`, so unregister's `put_device` frees the memdev, percpu_ref
/// included, under an ioctl still to come or still running: the changelog's "missing a device
/// reference before accessing the percpu_ref".
#[test]
fn percpu_ref_without_a_device_reference_frees_the_memdev_under_the_ioctl() {
    for memory in MemoryModel::ALL {
        for seed in 1..=5 {
            let f = explore("percpu-ref", memory, seed, 1_000)
                .failure
                .unwrap_or_else(|| panic!("under {memory}, seed {seed}: not found"));
            assert!(
                matches!(f.kind, FailureKind::UseAfterFree | FailureKind::DataRace),
                "{}",
                f.message
            );
            assert!(f.message.contains("cxl_memdev#"), "{}", f.message);
            assert!(f.message.contains("ops_active"), "{}", f.message);
        }
    }
}

/// The twin: the same percpu_ref scheme with the device reference v2 gave every open file.
#[test]
fn percpu_ref_with_a_device_reference_for_each_open_file_passes() {
    assert_clean("percpu-ref-devref");
}

/// The percpu_ref pair, every interleaving with up to 2 preemptions: with the device reference
/// none fails; without it, one frees the memdev under the ioctl.
#[test]
fn percpu_ref_devref_passes_every_interleaving_within_2_preemptions_and_percpu_ref_does_not() {
    let dfs = |variant| {
        Explorer::new("state_in_sysfs", variant)
            .unwrap()
            .scheduler(SchedulerSpec::Dfs { preemptions: Some(2) })
            .budget(Budget::Executions(1_000_000))
            .run()
    };
    let r = dfs("percpu-ref-devref");
    assert!(r.failure.is_none(), "{}", r.failure.unwrap().message);
    assert!(r.exhausted, "{} executions", r.executions);
    let f = dfs("percpu-ref")
        .failure
        .expect("the memdev freed under the ioctl");
    assert!(f.message.contains("ops_active"), "{}", f.message);
}
