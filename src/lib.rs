//! kgrace: a deterministic concurrency fuzzer for kernel-style synchronization.
//!
//! kgrace settles arguments about kernel races by running a faithful model of the code under
//! many interleavings. Each race from a mailing-list thread is a *harness* with variants (the
//! posted patch, the fixes, the alternatives proposed in the thread); exploring a variant either
//! finds a failure, written as a replayable JSON [`Trace`], or does not within its budget.
//!
//! # What is modeled
//!
//! [`kernel`] is what a harness is written against, with kernel names and semantics:
//! * memory words inside [`kstruct!`] objects, every access with its kind: plain, `READ_ONCE`/
//!   `WRITE_ONCE`, `smp_load_acquire`/`smp_store_release`, atomic RMWs with and without return
//!   value, and the fences `smp_mb`, `smp_rmb`, `smp_wmb`, `barrier`;
//! * the heap: `kmalloc`/`kzalloc`/`kfree`, globals, on-stack objects;
//! * CPUs (`spawn_cpu`, `join`), `schedule`/`wake_up_process`;
//! * spinlocks, the 2015 kernel mutex with its internals (`count`, `owner`, `wait_lock`,
//!   `wait_list`, fast paths, optimistic spinning, the unlock slow path), rwsems, completions,
//!   lists;
//! * `refcount_t` and `kref` with the orderings the kernel documents (increments unordered,
//!   `refcount_inc_not_zero` a control dependency, `refcount_dec_and_test` a release plus an
//!   acquire on the last reference) and refcount_t's "addition on 0" and "underflow" warnings;
//! * RCU: `rcu_read_lock`/`rcu_read_unlock`, `synchronize_rcu`, `rcu_assign_pointer`/
//!   `rcu_dereference`, `list_add_rcu`/`list_del_rcu`/`list_for_each_entry_rcu`; with or without
//!   preemption ([`harness::Config::preempt`]): under `CONFIG_PREEMPT` (the default) a grace
//!   period waits only for `rcu_read_lock` sections; under `!CONFIG_PREEMPT` also for every other
//!   CPU running kernel code to pass a quiescent state (block, sleep, finish), so code that does
//!   not sleep, such as a spinlock-held region, is an implicit reader;
//! * SRCU behind one API (`srcu_read_lock` returning `idx`, `srcu_read_unlock`,
//!   `synchronize_srcu`, `synchronize_srcu_expedited`, `srcu_barrier`, `srcu_dereference`) with
//!   implementations modeled word by word ([`kernel::SrcuFlavor`]): classic 2.6.19 to v3.3
//!   (`synchronize_sched()` three times under the SRCU mutex, the early exit after two flips),
//!   classic v3.4 (per-CPU `c[]`/`seq[]`, the flip, a two-phase wait under the SRCU mutex),
//!   classic v3.5 to v4.11 (the `running` token, callback batches, `process_srcu`), tree v6.0
//!   (`srcu_gp_seq` snapshots, one grace-period kworker running IDLE → SCAN1 → SCAN2 under
//!   `srcu_gp_mutex`, `srcu_barrier` entraining behind the last callback, and the polled
//!   `start_poll_synchronize_srcu`/`get_state_synchronize_srcu`/`poll_state_synchronize_srcu`),
//!   and two that no kernel had: the naive single-phase flip-and-wait the KVM thread feared, and
//!   B4's counters too small for callers that flip concurrently. With
//!   [`harness::Config::srcu_migration`] a reader's section may end on another CPU, whose
//!   counters its unlock updates (the strategy picks the CPU).
//!
//! Every operation is a scheduling point. A kernel wait loop (an SRCU scan retried until readers
//! leave, a contended lock) sleeps until what it reads is written, so it costs no steps, and a
//! wait that can never end is reported as a deadlock naming what each CPU waits for. The oracles are the kernel's own tools: KASAN
//! (use-after-free naming the field, the access, the CPU and the allocation and free steps;
//! double free), KCSAN's data-race rule (conflicting accesses from different CPUs, unordered by
//! happens-before, at least one plain; happens-before from release/acquire, fences, locks, spawn
//! and join, tracked with vector clocks), kmemleak (objects left at the end), `BUG_ON`/`WARN_ON`,
//! deadlock (every CPU blocked) and livelock (no end within the step budget), and SRCU's
//! grace-period guarantee (`docs/concurrent_srcu.md`, oracle O2.1; on per variant with
//! [`harness::Config::gp_oracle`]): when a `synchronize_srcu` returns, no reader that entered
//! before it was invoked is still inside. "Before" is step order, which is sequential
//! consistency's reading; under `lkmm` it is stricter than LKMM, whose guarantee covers a reader
//! only if its entry is ordered before the call, so the barrier tests that rest on the oracle
//! check that the reader it names entered before the updater existed. Two more switches a
//! variant can set:
//! [`harness::Config::refetch`] (the compiler re-loads plain loads marked with
//! [`kernel::Word::refetch`]) and [`harness::Config::kcsan`].
//!
//! Search strategies implement the three-method [`sched::Strategy`] trait, whose only hint is
//! what the running CPU's next step is: shared (with the object it touches), local, a spin or a
//! spawn ([`sched::NextStep`]). The same seed always explores the same executions. Which one
//! finds a bug fastest depends on the bug's shape; `kgrace bench` measures every strategy on
//! every failing variant (the README has its table):
//!
//! * [`sched::Guided`] (the default): each execution is one arm's, chosen by a bandit: PCT one
//!   depth deeper than `--depth`, the uniform walk, POS, a mutation of an earlier execution that
//!   produced a new reads-from pair (the feedback of RFF, Wolff et al., ASPLOS 2024), replayed to
//!   just past that pair and continued under early PCT, the uniform walk or POS, half the time
//!   stalling the CPU that ran at the cut after a few more of its steps; and a reversal of a near
//!   miss (`engine/near.rs`): an execution in which one CPU accessed an object just before
//!   another freed it, or loaded a word just before another overwrote it, replayed to that access
//!   with the first CPU stalled there until nothing else can run (or the others only spin). The
//!   reversal wins where one CPU must stop between a check and a use for as long as another
//!   needs to free (a flag tested before `srcu_read_lock`, a mutex's slow path that touches it
//!   after the next owner freed it, a reader stopped across the free after `synchronize_srcu`).
//!   The mutation pays where a bug needs a rare event and then a long stall and nothing else
//!   reaches it (its tests, with the reversal off); on these harnesses the reversal does better,
//!   and the mutation keeps 5% of the turns. The arms' shares change over an exploration
//!   (`docs/scheduling.md`): the first 22 executions are `portfolio`'s own, the same ones for
//!   the same seed (so a bug `portfolio` finds within them is found at the same execution), the
//!   rest mostly POS's and the reversal's, which find the deep bugs soonest. On the bench's 20
//!   seeds it finds every failing variant in a median of at most 50 executions and none later
//!   than `portfolio`; on 300 seeds the slowest median is 57 and two variants are behind
//!   `portfolio`, both by the naive SRCU's stragglers under `sc` (42 and 49 against 40). Its
//!   reads-from coverage stops growing after a few dozen executions on these harnesses; once
//!   128 executions in a row found nothing new, only one execution in eight pays for tracking
//!   it.
//! * [`sched::Pct`] (Burckhardt et al., ASPLOS 2010), change points on shared steps only: wins on
//!   long stalls of one CPU across another's whole path, and is the only strategy without
//!   feedback that finds the SRCU bug above. [`sched::Pct::early`] draws half its change points
//!   log-uniformly: it wins when a CPU must be preempted a few steps after it starts (a check
//!   hoisted before `srcu_read_lock`).
//! * [`sched::UniformWalk`] (the uniform interleaving sampling of SURW, Zhao et al., ASPLOS 2025):
//!   wins on bugs with several one-step windows, where each PCT change point must hit one step
//!   (the naive SRCUs' stragglers, a lock released and re-taken between two steps of its
//!   holder); it almost never stalls a CPU for long.
//! * [`sched::Pos`] (partial order sampling, Yuan et al., CAV 2018): re-draws the priority of
//!   every pending step that races with the step just run, so both orders of each racing pair
//!   are about equally likely; wins on the weak-memory bug whose stale read follows two switches.
//! * [`sched::Portfolio`] (PCT at two depths and the uniform walk taking turns: the default
//!   before `guided`): within a small factor of the better of the two on every bug, best on none.
//! * [`sched::UniformStall`] (the uniform walk with PCT's stalls, our combination of the two
//!   papers above): wins on bugs that need both a one-step window and a stall of the lock
//!   holder (the pre-3.15 `mutex_unlock` freed under KASAN).
//! * [`sched::RandomWalk`] (a uniformly random CPU at each shared step: the baseline the papers
//!   above measure against): favours short CPUs finishing early; it is alone best on no
//!   variant here.
//! * [`sched::Dfs`]: exhaustive depth-first search within a preemption bound (the preemption
//!   bounding of CHESS, Musuvathi and Qadeer, PLDI 2007), for proofs: it says whether it
//!   exhausted the space.
//!
//! [`fuzz`] runs a harness under libFuzzer (`cargo fuzz run <harness>`), where
//! [`sched::FuzzSchedule`] reads PCT's choices from the input bytes.
//!
//! # A failing example
//!
//! ```
//! use kgrace::{Budget, Explorer, FailureKind};
//! use kgrace::sched::SchedulerSpec;
//!
//! let report = Explorer::new("mutex_unlock_free", "buggy-kasan")?
//!     .scheduler(SchedulerSpec::Pct { depth: 3, seed: 1 })
//!     .budget(Budget::Executions(1_000))
//!     .run();
//! let failure = report.failure.expect("PCT finds Mark Hairgrove's interleaving");
//! assert_eq!(failure.kind, FailureKind::UseAfterFree);
//! assert!(failure.inside("mutex_unlock"));
//! # Ok::<(), kgrace::Error>(())
//! ```
//!
//! The failure's message (`kgrace run mutex_unlock_free --variant buggy-kasan --scheduler pct --seed 1` prints the
//! same):
//!
//! ```text
//! BUG: KASAN: use-after-free in spin_lock
//! write of hmm_device#3.mutex.wait_lock by CPU1 hmm_notifier_release at step 130 (arch_spin_trylock)
//! allocated by CPU0 setup at step 8
//! freed by CPU2 close at step 129
//! Call Trace:
//!   spin_lock
//!   __mutex_unlock_slowpath
//!   mutex_unlock
//!   hmm_mirror_destroy
//!   hmm_notifier_release
//! ```
//!
//! # Replaying a failure
//!
//! `report.trace` holds the failing execution: every scheduling decision, and the events (step,
//! CPU, kernel function, operation, location, value read or written, source line), which come from
//! replaying the decisions once with recording on, so exploration itself stays fast.
//! [`Trace::save_new`] writes it without overwriting anything; `kgrace replay FILE` (or
//! [`Trace::replay`] and [`Trace::verdict`]) re-runs it and reports whether the recorded failure
//! reproduced, the run finished cleanly, or the run diverged from the trace and where.
//!
//! [`minimize::minimize`] (what `kgrace run` does before writing a trace, and `kgrace minimize`)
//! shrinks a failing trace to the fewest preemptions, then steps, that fail the same way at the
//! same place, and [`perfetto::timeline`] (`kgrace replay --perfetto`) draws a replay as a
//! Chrome/Perfetto timeline: a track per CPU, a slice per kernel function call and per access,
//! arrows from stores to the loads on other CPUs that read them.
//!
//! # Writing a model
//!
//! A harness body runs as CPU0: it allocates and initializes objects, spawns CPUs, joins them and
//! frees what is left. [`Explorer::from_fn`] explores such a body without registering it:
//!
//! ```
//! use kgrace::kernel::*;
//! kgrace::kstruct! { struct Data("data") { x: Word<u64> } }
//!
//! let report = kgrace::Explorer::from_fn("racy", || {
//!     let d: Data = kzalloc();
//!     let a = spawn_cpu("writer", move || d.x().store(1));
//!     let b = spawn_cpu("reader", move || { let _ = read_once(d.x()); });
//!     a.join();
//!     b.join();
//!     kfree(d);
//! })
//! .run();
//! assert_eq!(report.failure.unwrap().kind, kgrace::FailureKind::DataRace);
//! ```
//!
//! ## A harness of your own, with variants and a command line
//!
//! `examples/seqlock.rs` is a complete harness outside `src/harness/`, declared with the types the
//! built-in ones use, and a binary with the whole command line for it. It models a 32-bit NIC
//! driver's 64-bit byte counter, two words, read by `ndo_get_stats64` under the kernel's
//! `u64_stats_sync` seqcount while the receive path adds a packet across the carry into the high
//! word. Run it with `cargo run --release --example seqlock -- list` (or `run`, `run --all`,
//! `replay`, `minimize`). Its parts, in order:
//!
//! 1. The objects, as [`kstruct!`]s of [`kernel::Word`]s, and the kernel functions the harness
//!    needs that [`kernel`] does not have, written with kernel names on its accesses and fences:
//!    `u64_stats_update_begin` (`sequence++`, `smp_wmb()`), `u64_stats_fetch_begin` (spin while
//!    `sequence` is odd with [`kernel::cpu_relax`], `smp_rmb()`), `u64_stats_fetch_retry`
//!    (`smp_rmb()`, then whether `sequence` moved). [`kernel::KFunc::enter`] names each function
//!    in traces and failures. An access is marked where the kernel's, or KCSAN's view of it, is.
//! 2. The body, `fn body(variant: &'static str)`: CPU0 allocates the statistics, spawns the
//!    writer (`rx_irq`) and the reader (`dev_get_stats64`), joins them and frees the object; the
//!    reader's oracle is a [`kernel::bug_on`] that the value it read is one the counter held. The
//!    variant name picks the reader: one pass without the retry (`buggy`), the kernel's loop
//!    (`fixed`), or the loop without its `smp_rmb()`s (`no-rmb`, a mutant of `fixed` that shows
//!    the barriers are what makes it pass).
//! 3. The registry, a `static` slice of [`harness::Harness`]: name, origin (`thread`), the
//!    question its variants settle, the [`harness::Variant`]s with their
//!    [`harness::Expected`] verdicts and [`harness::Config`]s (`no-rmb` pins `lkmm` with
//!    [`Config::with_memory`](harness::Config::with_memory): under `sc` it passes), and the body,
//!    [`harness::Body::new`]`(body)`. Everything in it is `const`.
//! 4. `main`, one line: [`cli::main`]`(HARNESSES)`. Every command of `kgrace` works on these
//!    harnesses only: `list`, `run seqlock --variant buggy` (exit 1, a trace written, printing the
//!    command that replays it through this binary), `run --all` ("all verdicts as expected"),
//!    `replay TRACE` (exit 1, "reproduced"), `minimize`, `bench`. A trace names its harness: the
//!    built-in `kgrace replay` refuses a `seqlock` trace (exit 2, saying to replay it through the
//!    binary that declares it).
//!
//! In your own crate the same file is your binary (or `src/main.rs` over a module of harnesses).
//! The library calls take the registry where the built-in one would be looked up:
//! [`Explorer::for_variant`], [`Trace::replay_in`], [`minimize::minimize_in`],
//! [`fuzz::Session::for_variant`], [`fuzz::replay_input_in`], [`bench::bench_in`]. A fuzz target
//! is the built-in targets' one line with [`fuzz::run_target_in`] (`fuzz/fuzz_targets/seqlock.rs`
//! includes the example's file for its registry). `tests/user_harness.rs` checks all of it:
//! every variant's verdict under both memory models, `fixed` exhausted by `dfs`, the fuzz
//! session, and the example binary's commands.
//!
//! # Weak memory
//!
//! Every run chooses a memory model ([`MemoryModel`], `kgrace run --memory sc|lkmm`): `sc`, the
//! default, reads the newest store at every load; `lkmm` is the Linux-kernel memory model as an
//! operational machine, a promise-free Promising-ARM (Pulte et al., PLDI 2019) with per-CPU views
//! (`docs/memory-model.md` has the rules). Under `lkmm` a load may read an older store where the
//! model allows it, and *which* store is a decision of the search strategy, like the choice of
//! CPU: PCT, the uniform walk, the fuzzer and `--scheduler dfs` all explore it, and traces record
//! it (`"read": k`, k stores back from the newest) and show it when replayed:
//!
//! ```text
//!   155  READ_ONCE cxl_memdev#5.kobj_state =7
//!          stale: read the store of step 34
//!          missed 13 stored at step 43
//! ```
//!
//! Orderings: `smp_load_acquire`/`smp_store_release`; `smp_mb` (store buffering forbidden);
//! `smp_rmb` (loads against loads) and `smp_wmb` (stores against stores); value-returning RMWs
//! fully ordered, void RMWs and failed `cmpxchg` unordered; `smp_mb__{before,after}_atomic`;
//! locks as acquire RMWs and release stores; `synchronize_rcu` a full fence on each side of its
//! wait. `rcu_dereference`, `srcu_dereference` and `list_for_each_entry_rcu` are `READ_ONCE`
//! loads: an access through the pointer they return is ordered after them (the engine knows which
//! load produced a pointer: an address dependency with no harness change), an access not
//! through it is not. `tests/weak_memory.rs` checks each against the litmus shape it comes from,
//! with a twin that drops the ordering.
//!
//! What the machine cannot produce (all allowed by LKMM, so a passing verdict under `lkmm` is a
//! verdict for the executions it can produce): load buffering (a load reading a store not yet
//! executed), two stores of one CPU reordered, outcomes that are not multicopy-atomic, store
//! buffering across a release followed by an acquire on one CPU, a failed `cmpxchg` or lock
//! attempt reading an older value. A CPU that spins or wakes from a wait catches up with every
//! store (eventual visibility).
//!
//! `--scheduler dfs` explores every decision (CPU choices and, under `lkmm`, read choices) depth
//! first within `--preemptions N`, and says whether it exhausted the space: a small model that
//! passes is then proved for that bound.
//!
//! # Litmus tests
//!
//! `kgrace litmus PATH...` runs herd7's C litmus tests on the same engine ([`litmus`]): each
//! process a CPU, each access the kernel model's, explored exhaustively, judged as herd7 judges
//! (Never / Sometimes / Always, `Flag data-race`), with a replayable witness trace of an observed
//! outcome; `--expected EXPECTED.tsv` compares with herd7's verdicts. A test whose executions
//! outnumber the bound (`--max-executions`) gets a verdict only if what was seen settles it:
//! `Sometimes` (a state satisfying the condition and one not), with a race seen or no plain
//! access that could race. The README has the
//! agreement over the 317 tests of the LKMM suite and the reason for every disagreement.
//!
//! # Limitations
//!
//! * Of the compiler's transformations only the refetch of a plain load is modeled, and only
//!   where the harness marks it.
//! * The race detector's happens-before is vector clocks, with a second clock for marked stores
//!   read by marked loads (LKMM's `rfe` orders the store itself, not the writer's earlier
//!   accesses). A release and a full barrier are A-cumulative (they pass on what the CPU's
//!   loads read). A data dependency orders a store after the loads its value came from only in
//!   litmus tests, whose interpreter knows them; in harness code a `WRITE_ONCE` of a loaded
//!   value carries nothing of that load, so a race LKMM would not flag can be reported through
//!   such a copy. Control dependencies order later stores only where kernel model code declares
//!   them (tree SRCU's callback invocation, and what follows its scans); elsewhere, and in
//!   harness code, they order nothing for the detector, which agrees with LKMM for plain
//!   accesses after them. Where declared, a dependency is stronger than LKMM's: it orders every
//!   load before it (not only those the branch tested) before every later store, plain ones
//!   included, until the next full barrier; it can hide a race, never report one.
//! * The mutex is v4.1's algorithm (the `count` word, optimistic spinning, the wait list). Its
//!   orderings are v4.1's (fully ordered fast paths) for the 2015 harness and v4.10's (an acquire
//!   and a release, [`harness::Config::mutex_acquire_release`]) for the later ones and their
//!   tree SRCU. Of the SRCU barriers, a mutant shows B and C needed for classic v3.4, v3.5+ and
//!   tree SRCU, A and D for classic v3.4, and A for v3.5+ and tree SRCU (a reader that migrates
//!   between one scan's sums while another is inside). For tree SRCU it also shows the polled
//!   API's two barriers needed, and `rcu_seq_end`'s needed once A and the scan's control
//!   dependency are gone. E, D (tree's and v3.5+'s) and the other `rcu_seq` barriers are not
//!   needed in any shape here (E's order is one the machine always keeps); that other orderings
//!   in the code cover them is our argument from LKMM's rules and the kernel's comments
//!   (`docs/srcu.md`, §Tree SRCU's other barriers; `tests/srcu_barriers.rs`).
//! * RCU is modeled by its guarantee, not an implementation. Under `!CONFIG_PREEMPT` a CPU is
//!   quiescent while it sleeps or blocks (any wait but a contended spinlock, which spins), after
//!   it finishes and before its task first runs; interrupts, idle and `cond_resched()` are not
//!   modeled, and a CPU (task) never migrates. The switch changes RCU only; SRCU readers always
//!   may sleep. SRCU readers migrate between CPUs mid-section only with
//!   `Config::srcu_migration` (on in `concurrent_srcu`; off elsewhere, where a decision per
//!   unlock would multiply what an exhaustive search visits). Tree SRCU runs in its small
//!   configuration (no `srcu_node` funnel, callbacks on CPU 0's `srcu_data`, invoked by its own
//!   kworker), without its
//!   delays (expedited or not), `srcu_barrier_seq`'s early exit or the counter-wrap bound; the
//!   small-counter SRCU of B4 (`docs/srcu.md`) has 2-bit counters, not 8-bit ones, so that
//!   three lock/unlock pairs wrap them. `synchronize_sched()` is RCU's
//!   grace period (the flavors are one since v4.20), with preempt-disabled regions as readers.
//!   Classic SRCU's flip is a `WRITE_ONCE` (v3.4 had a plain `completed++`).
//! * Value-returning atomics act as `smp_mb()` on both sides, as the LKMM says. `kfree` is a plain
//!   write of the whole object for the race detector (KCSAN's slab free hook), so a lifetime bug
//!   often shows first as the free racing with an access it is not ordered after; variants with
//!   such bugs expect either symptom ([`harness::Expected::FailsWith`]).
//! * `refcount_t` and `kref`, weaker than value-returning atomics, have their own orderings
//!   ([`kernel::Refcount`]). A `kref` is the v4.11+ one built on `refcount_t`, in every harness,
//!   also where the thread's kernel had the fully ordered `atomic_t` kref.
//! * Steps on an object only the running CPU has touched count as local: the schedulers do not
//!   preempt there, since the object is not yet reachable by other CPUs. A harness that hands an
//!   object to another CPU through a channel the model cannot see would break that assumption.
//! * Lock acquisitions are acquire RMWs and releases release stores, as the LKMM has them, even
//!   where an architecture's implementation is a fully ordered instruction; an RMW that does not
//!   write (a failed `cmpxchg`, a lock found taken) orders nothing.
//! * `percpu_ref` is one atomic count with a dead mark: no per-CPU counts, no grace period before
//!   the switch to atomic mode ([`kernel::PercpuRef`]); a `tryget_live` racing with the kill may
//!   fail earlier than the kernel's would, which adds no outcome the kernel lacks.
//! * A bitfield is its whole word: `struct kobject`'s state bits are one word that every writer
//!   of any of them reads and writes back (`state_in_sysfs`).
//! * New memory is zeroed (`kmalloc` behaves as `kzalloc`): reads of uninitialized fields are not
//!   flagged.
//! * The mutex's `osq` spinner queue, signals and lockdep are not modeled; the rwsem is a counter
//!   whose waiters block until it changes (no hand-off or fairness). The 2015 `owner` field,
//!   stored plainly by the kernel and read by spinners with `READ_ONCE`, is modeled as marked so
//!   that this benign race does not hide the one a harness is about.
//! * An optimistic spinner spins as long as the owner is on its CPU; when it finds no owner it
//!   gives up after a few tries, standing in for `need_resched()`. Under `CONFIG_PREEMPT` a
//!   running owner may be found preempted, a decision of the search each time a spinner looks
//!   (preemption-disabled regions are not tracked, so the spinner may give up where the kernel's
//!   would have spun; it may in the kernel too, on its own `need_resched()`). Without it only a
//!   sleeping owner is off its CPU.
//! * At most 32 CPUs besides CPU0 per execution (spawning one more fails the execution with a
//!   report saying so), 20,000 modeled operations per execution. A fuzz input gives priorities to
//!   the first 8 CPUs only; the others start at the priority of a zero byte.
//! * Trace minimization is greedy: a minimized trace has no more preemptions (then steps) than the
//!   one found and fails at the same place, but it is not proved minimal. What bounds the
//!   preemptions a failure needs is an exhaustive `--scheduler dfs --preemptions N` run.
//! * The guided strategy's reads-from pairs are 64-bit hashes (two pairs share one with a
//!   probability of about 2^-63); its sites are hashed by source line and column and a summary of the function's and
//!   operation's names, so which executions a seed explores changes when a harness or kernel
//!   line moves (recorded traces replay regardless: they hold the decisions). Counting the pairs
//!   costs about 6% more instructions per execution on the cheapest harness (`mutex_unlock_free
//!   fixed`, callgrind), tracking near misses 3 to 7% more (README, "Near misses, reversed"), in
//!   the executions it tracks (all until 128 in a row found nothing new, then one in eight). A
//!   near miss is tracked for the first 8 CPUs only. Its arms' shares were fitted to the rates
//!   `kgrace bench` measured on the five harnesses here (`docs/scheduling.md`).
//! * A run on several jobs is repeatable for the same seed and number of jobs; with the default
//!   (the number of cores) it differs between machines. `--jobs 1` is the same everywhere.
#![deny(missing_docs, missing_debug_implementations, rust_2018_idioms)]

pub mod bench;
pub mod cli;
pub mod config;
mod engine;
mod exec;
pub mod explore;
mod failure;
pub mod fuzz;
pub mod harness;
pub mod kernel;
pub mod litmus;
pub mod minimize;
pub mod perfetto;
mod pool;
pub mod sched;
pub mod trace;

pub use config::MemoryModel;
pub use explore::{Budget, Explorer, Report};
pub use failure::{Failure, FailureKind};
pub use trace::{Trace, Verdict};

use std::path::PathBuf;

/// What can go wrong outside an execution: bad names, unreadable or malformed traces.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No harness by that name.
    #[error("unknown harness `{name}`; harnesses: {known} (see `kgrace list`)")]
    UnknownHarness {
        /// The name asked for.
        name: String,
        /// The names there are.
        known: String,
    },
    /// The harness has no such variant.
    #[error("harness `{harness}` has no variant `{variant}`; variants: {known} (see `kgrace list`)")]
    UnknownVariant {
        /// The harness.
        harness: String,
        /// The variant asked for.
        variant: String,
        /// The variants there are.
        known: String,
    },
    /// The trace file could not be read. The OS error is the [`source`](std::error::Error::source),
    /// not part of this message: print the chain (`{:#}` of anyhow) to see it.
    #[error("cannot read trace {path}")]
    TraceRead {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The trace file is not a usable trace.
    #[error("{path} is not a usable kgrace trace: {reason}")]
    BadTrace {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A trace cannot be minimized: it records no failure, its decisions no longer fail the way
    /// it records, or it is a litmus witness.
    #[error("cannot minimize the trace: {0}")]
    Minimize(String),
    /// A trace could not be written. The OS error is the [`source`](std::error::Error::source).
    #[error("cannot write trace {path}")]
    TraceWrite {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}
