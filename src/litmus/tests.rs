//! Unit tests of the litmus front end: parser details, check errors, the interpreter on the
//! sequential machine, and the evaluator.

use super::ast::*;
use super::*;

const MP: &str = r#"C MP+pooncerelease+poacquireonce

(*
 * Result: Never
 *)

{}

P0(int *buf, int *flag) // Producer
{
	WRITE_ONCE(*buf, 1);
	smp_store_release(flag, 1);
}

P1(int *buf, int *flag) // Consumer
{
	int r0;
	int r1;

	r0 = smp_load_acquire(flag);
	r1 = READ_ONCE(*buf);
}

exists (1:r0=1 /\ 1:r1=0) (* Bad outcome. *)
"#;

fn reg(st: &FinalState, proc: usize, r: &str) -> Value {
    st.get(&Loc::Reg {
        proc,
        reg: r.to_string(),
    })
    .cloned()
    .expect("register in state")
}

fn var(st: &FinalState, x: &str) -> Value {
    st.get(&Loc::Var(x.to_string()))
        .cloned()
        .expect("location in state")
}

#[test]
fn parses_mp() {
    let t = parse(MP).unwrap();
    assert_eq!(t.name, "MP+pooncerelease+poacquireonce");
    assert_eq!(t.result_comment(), Some("Never"));
    assert_eq!(t.procs.len(), 2);
    assert_eq!(
        t.procs[1].params[1],
        ast::Param {
            ty: CType {
                base: "int".into(),
                pointers: 1
            },
            name: "flag".into()
        }
    );
    let fin = t.fin.unwrap();
    assert_eq!(fin.quantifier, Quantifier::Exists);
    assert_eq!(fin.cond.to_string(), "(1:r0=1 /\\ 1:r1=0)");
}

#[test]
fn mp_writer_and_reader_compute_what_they_should() {
    let p = load(MP).unwrap();
    assert_eq!(
        p.shared.iter().map(|v| v.name.as_str()).collect::<Vec<_>>(),
        ["buf", "flag"]
    );

    let (st, m) = SeqMachine::run(&p, &[0, 1]);
    assert_eq!(reg(&st, 1, "r0"), Value::Int(1));
    assert_eq!(reg(&st, 1, "r1"), Value::Int(1));
    assert_eq!(
        m.log,
        [
            "P0: store Once buf=1",
            "P0: store Release flag=1",
            "P1: load Acquire flag=1",
            "P1: load Once buf=1",
        ]
    );
    assert!(!eval(&p.test.fin.as_ref().unwrap().cond, &st).unwrap());

    let (st, _) = SeqMachine::run(&p, &[1, 0]);
    assert_eq!(reg(&st, 1, "r0"), Value::Int(0));
    assert_eq!(reg(&st, 1, "r1"), Value::Int(0));
    assert_eq!(var(&st, "flag"), Value::Int(1));
}

#[test]
fn pointer_chains_and_address_values() {
    let src = r#"C chain
{
	int a = 5;
	int *x = &a;
	int **pp = x;
	q = y;
}

P0(int **pp, int *x, int *y, int *q)
{
	int *r1;
	int r2;
	int *r3;
	int r4;

	r1 = READ_ONCE(*x);
	r2 = READ_ONCE(*r1);
	r3 = rcu_dereference(*pp);
	r4 = *r1 + 1;
	*r1 = r4 * 2;
	WRITE_ONCE(*q, x);
}

exists (0:r1=a /\ 0:r2=5 /\ 0:r3=x /\ a=12 /\ q=x)
"#;
    let p = load(src).unwrap();
    let a = p.shared_var("a").unwrap();
    assert_eq!(a.init, InitValue::Int(5));
    assert_eq!(p.shared_var("x").unwrap().init, InitValue::AddrOf("a".into()));
    // `int **pp = x;` reads as the address of x, and `q = y;` allocates y.
    assert_eq!(p.shared_var("pp").unwrap().init, InitValue::AddrOf("x".into()));
    assert_eq!(p.shared_var("y").unwrap().init, InitValue::Int(0));

    let (st, m) = SeqMachine::run(&p, &[0]);
    assert_eq!(reg(&st, 0, "r1"), Value::Addr("a".into()));
    assert_eq!(reg(&st, 0, "r2"), Value::Int(5));
    // pp holds &x, so rcu_dereference(*pp) gives the address of x, whose value is &a.
    assert_eq!(reg(&st, 0, "r3"), Value::Addr("x".into()));
    assert!(
        m.log.iter().any(|l| l.starts_with("P0: load RcuDeref pp=")),
        "{:?}",
        m.log
    );
    assert!(m.log.contains(&"P0: load Plain a=5".to_string()), "{:?}", m.log);
    assert!(m.log.contains(&"P0: store Plain a=12".to_string()), "{:?}", m.log);
    assert_eq!(var(&st, "q"), Value::Addr("x".into()));
    assert!(st.to_string().contains("0:r1=a;"), "{st}");
    assert_eq!(p.judge(&[st]).unwrap().observation, Observation::Always);
}

#[test]
fn rmw_results() {
    let src = r#"C rmw
{ atomic_t v = ATOMIC_INIT(1); int z; }
P0(atomic_t *v, int *z)
{
	int r0; int r1; int r2; int r3; int r4; int r5; int r6; int r7; int r8 = 9;
	r0 = atomic_inc_return(v);
	r1 = atomic_fetch_add_relaxed(3, v);
	atomic_sub(2, v);
	r2 = atomic_read(v);
	r3 = cmpxchg(z, 0, 7);
	r4 = cmpxchg_acquire(z, 0, 8);
	r5 = atomic_add_unless(v, 1, 3);
	r6 = atomic_add_unless(v, 1, 3);
	r7 = atomic_dec_and_test(v);
	(void)xchg_release(z, r8);
}
exists (v=2)
"#;
    let p = load(src).unwrap();
    assert_eq!(p.shared_var("v").unwrap().kind, LocKind::Atomic);
    let (st, m) = SeqMachine::run(&p, &[0]);
    let r = |n: &str| reg(&st, 0, n);
    assert_eq!(r("r0"), Value::Int(2), "inc_return gives the new value");
    assert_eq!(r("r1"), Value::Int(2), "fetch_add gives the old value");
    assert_eq!(r("r2"), Value::Int(3), "2 + 3 - 2");
    assert_eq!(r("r3"), Value::Int(0), "successful cmpxchg returns the old value");
    assert_eq!(r("r4"), Value::Int(7), "failed cmpxchg returns the current value");
    assert_eq!(r("r5"), Value::Int(0), "v is 3: no add");
    assert_eq!(r("r6"), Value::Int(0));
    assert_eq!(r("r7"), Value::Int(0), "3 - 1 is not zero");
    assert_eq!(var(&st, "v"), Value::Int(2));
    assert_eq!(var(&st, "z"), Value::Int(9));
    assert!(
        m.log.iter().any(|l| l.contains("Sub(2) NoReturn")),
        "atomic_sub(v, p) takes the value first: {:?}",
        m.log
    );
    assert!(m
        .log
        .iter()
        .any(|l| l.contains("Cmpxchg { expected: 0, new: 8 } Acquire z 7->None")));
    assert!(m.log.iter().any(|l| l.contains("Xchg(9) Release")));
    assert_eq!(p.judge(&[st]).unwrap().observation, Observation::Always);
}

#[test]
fn control_flow_and_fences() {
    let src = r#"C ctrl
{ x = 1; }
P0(int *x, int *y, spinlock_t *l, struct srcu_struct *s)
{
	int r0;
	int r1 = 0, r2;
	r0 = READ_ONCE(*x);
	if (r0 == 1 && !(r0 > 2)) {
		spin_lock(l);
		r1 = spin_is_locked(l);
		spin_unlock(l);
	} else
		r1 = 42;
	smp_mb(); smp_rmb(); smp_wmb(); barrier(); smp_mb__after_spinlock();
	r2 = srcu_read_lock(s);
	srcu_read_unlock(s, r2);
	synchronize_srcu(s);
	smp_store_mb(*y, r0 ? 5 : 6);
	r3 = -r0 + (r0 << 3) % 5;
}
exists (0:r1=1 /\ y=5 /\ 0:r3=2)
"#;
    let p = load(src).unwrap();
    assert_eq!(p.shared_var("l").unwrap().kind, LocKind::Spinlock);
    assert_eq!(p.shared_var("s").unwrap().kind, LocKind::Srcu);
    // r3 is used without a declaration, as generated tests do.
    assert!(p.procs[0].regs.contains(&"r3".to_string()));
    let (st, m) = SeqMachine::run(&p, &[0]);
    assert!(eval(&p.test.fin.as_ref().unwrap().cond, &st).unwrap(), "{st}");
    assert!(!m.deadlocked);
    let fences: Vec<&String> = m.log.iter().filter(|l| l.contains("fence")).collect();
    assert_eq!(
        fences.len(),
        6,
        "five fences and the smp_mb of smp_store_mb: {fences:?}"
    );
}

#[test]
fn header_variants() {
    let src = "C C-2+2W+pooncereleases\n\"PodWW WseReleaseOnce\"\nCycle=PodWW Wse\nPrefetch=0:x=F,0:y=W\n(* Result: Sometimes *)\n{\n}\n\nP0(int *x, int *y) {\n\tWRITE_ONCE(*x, 2);\n\tsmp_store_release(y, 1);\n}\n\nexists\n(x=2 /\\ y=1)\n";
    let t = parse(src).unwrap();
    assert_eq!(t.doc.as_deref(), Some("PodWW WseReleaseOnce"));
    assert_eq!(t.metadata[1], ("Prefetch".to_string(), "0:x=F,0:y=W".to_string()));
    assert_eq!(t.result_comment(), Some("Sometimes"));
    assert_eq!(t.procs[0].body.len(), 2);
}

#[test]
fn final_section_forms() {
    let base = "C t\n{}\nP0(int *b, int *h, int *new) { int r10 = 0; }\nP1(int *x) { int r10; }\n";
    let t = parse(&format!("{base}exists b=42\n")).unwrap();
    assert_eq!(t.fin.unwrap().cond.to_string(), "b=42");
    let t = parse(&format!(
        "{base}locations [new;0:r10]\nfilter (~0:r10=1)\n~exists (~h=new \\/ 0:r10=1:r10)\n"
    ))
    .unwrap();
    assert_eq!(
        t.locations,
        [
            Loc::Var("new".into()),
            Loc::Reg {
                proc: 0,
                reg: "r10".into()
            }
        ]
    );
    assert_eq!(t.filter.unwrap().to_string(), "~0:r10=1");
    let fin = t.fin.unwrap();
    assert_eq!(fin.quantifier, Quantifier::NotExists);
    assert_eq!(fin.cond.to_string(), "(~h=new \\/ 0:r10=1:r10)");
    let t = parse(&format!("{base}forall (0:r10=0 \\/ x!=-1 /\\ true)\n")).unwrap();
    assert_eq!(t.fin.as_ref().unwrap().quantifier, Quantifier::Forall);
    // /\ binds tighter than \/.
    assert_eq!(t.fin.unwrap().cond.to_string(), "(0:r10=0 \\/ (x!=-1 /\\ true))");
    assert!(parse(base).unwrap().fin.is_none());
}

#[test]
fn comments_versus_dereferences() {
    let src = "C t\n{}\nP0(intptr_t *x1) // c\n{ /* c */\n\tintptr_t r1 = (intptr_t)rcu_dereference(*(intptr_t **)x1); (* herd\n (* nested *) comment *)\n\tWRITE_ONCE(*x1, (*x1));\n}\nexists (0:r1=0) (* trailing *)\n";
    let p = load(src).unwrap();
    assert_eq!(p.procs[0].body.len(), 2);
}

#[test]
fn unsupported_constructs_are_errors_with_lines() {
    let wrap =
        |body: &str| format!("C t\n{{}}\nP0(int *x, int *y)\n{{\n\tint r0;\n{body}\n}}\nexists (0:r0=0)\n");
    let cases = [
        ("\twhile (r0) r0 = 0;", 6, "unsupported: `while` loop"),
        (
            "\tr0 = try_cmpxchg(x, &r0, 1);",
            6,
            "unsupported: call to `try_cmpxchg`",
        ),
        (
            "\tWRITE_ONCE(x, 1);",
            6,
            "unsupported: `WRITE_ONCE` of something other than `*pointer`",
        ),
        ("\tr0 = x->next;", 6, "unsupported: struct member access"),
        ("\tr0 += 1;", 6, "unsupported: compound assignment `+=`"),
        ("\tr0 = z;", 6, "`z` is neither a register nor a parameter of P0"),
        (
            "\tr0 = READ_ONCE(*x, 1);",
            6,
            "`READ_ONCE` takes 1 argument(s), found 2",
        ),
        ("\tx = 1;", 6, "unsupported: assignment to parameter `x`"),
        ("\tr0 = atomic_inc(&y);", 6, "unsupported: `&` in a process body"),
        ("\tr0 = READ_ONCE(*x)", 7, "expected `;`, found `}`"),
    ];
    for (body, line, msg) in cases {
        let e = load(&wrap(body)).unwrap_err();
        assert_eq!(e.line, line, "{body}: {e}");
        assert!(e.message.starts_with(msg), "{body}: {e}");
    }
    let e = load("C t\n{ int a[2]; }\nP0(int *a) {}\nexists (a=0)\n").unwrap_err();
    assert_eq!(e.to_string(), "line 2: unsupported: array in the initial state");
    assert!(e.is_unsupported());
    let e = load("C t\n{}\nP1(int *a) {}\nexists (a=0)\n").unwrap_err();
    assert_eq!(e.message, "expected process `P0`, found `P1`");
    let e = load("X86 t\n{}\n").unwrap_err();
    assert!(e.message.contains("only C tests are supported"), "{e}");
    let e = load("C t\n{}\nP0(int *a) {}\nexists (3:r0=0)\n").unwrap_err();
    assert!(e.message.contains("P3, which does not exist"), "{e}");
}

#[test]
fn evaluator() {
    let mut st = FinalState::new();
    st.set_reg(0, "r0", Value::Int(1));
    st.set_reg(1, "r0", Value::Int(1));
    st.set_reg(1, "r1", Value::Addr("x".into()));
    st.set_var("x", Value::Int(-1));
    st.set_var("h", Value::Addr("new".into()));
    let c = |s: &str| {
        parse(&format!("C t\n{{}}\nP0(int *x) {{}}\nexists ({s})\n"))
            .unwrap()
            .fin
            .unwrap()
            .cond
    };
    let yes = [
        "0:r0=1",
        "0:r0=1:r0",
        "1:r1=x",
        "x=-1",
        "h=new",
        "~h=x",
        "x!=1",
        "0:r0=2 \\/ 1:r1=x",
        "true",
    ];
    let no = [
        "0:r0=0",
        "1:r1=1",
        "1:r1=h",
        "1:r1=0:r0",
        "~(x=-1)",
        "0:r0=1 /\\ x=1",
        "false",
    ];
    for s in yes {
        assert!(eval(&c(s), &st).unwrap(), "{s}");
    }
    for s in no {
        assert!(!eval(&c(s), &st).unwrap(), "{s}");
    }
    assert_eq!(
        eval(&c("2:r0=1"), &st),
        Err(MissingLocation(Loc::Reg {
            proc: 2,
            reg: "r0".into()
        }))
    );
    assert_eq!(st.to_string(), "0:r0=1; 1:r0=1; 1:r1=x; h=new; x=-1;");
}

#[test]
fn judge_follows_herd7() {
    let test = |clause: &str| parse(&format!("C t\n{{}}\nP0(int *x) {{}}\n{clause}\n")).unwrap();
    let state = |x: i64| {
        let mut s = FinalState::new();
        s.set_var("x", Value::Int(x));
        s
    };
    let states = [state(0), state(1), state(2)];
    let run = |clause: &str, states: &[FinalState]| {
        let t = test(clause);
        judge(t.fin.as_ref(), t.filter.as_ref(), states).unwrap()
    };
    let o = run("exists (x=1)", &states);
    assert_eq!(
        (o.observation, o.positive, o.negative, o.validated),
        (Observation::Sometimes, 1, 2, true)
    );
    let o = run("exists (x=3)", &states);
    assert_eq!((o.observation, o.validated), (Observation::Never, false));
    let o = run("~exists (x=3)", &states);
    assert_eq!((o.observation, o.validated), (Observation::Never, true));
    let o = run("forall (x!=3)", &states);
    assert_eq!((o.observation, o.validated), (Observation::Always, true));
    let o = run("forall (x=1)", &states);
    assert_eq!((o.observation, o.validated), (Observation::Sometimes, false));
    let o = run("filter (x!=0)\nexists (x=1 \\/ x=2)", &states);
    assert_eq!(
        (o.observation, o.positive, o.filtered),
        (Observation::Always, 2, 1)
    );
    let o = run("filter (x=5)\nexists (x=1)", &states);
    assert!(o.no_states());
    assert_eq!(o.observation, Observation::Never);
}

#[test]
fn primitive_table_covers_linux_kernel_def() {
    let names = primitive_names();
    for n in [
        "atomic_add_return_relaxed",
        "atomic_fetch_andnot_release",
        "atomic_dec_and_test",
        "atomic_sub_and_test",
        "atomic_add_negative_acquire",
        "xchg_relaxed",
        "cmpxchg_release",
        "atomic_cmpxchg_acquire",
        "atomic_inc",
        "atomic_andnot",
        "smp_mb__before_atomic",
    ] {
        assert!(names.iter().any(|x| x == n), "{n}");
    }
    for n in [
        "atomic_inc_relaxed",
        "atomic_and_return",
        "atomic_add_and_test",
        "atomic_inc_and_test_relaxed",
    ] {
        assert!(!names.iter().any(|x| x == n), "{n} is not an LKMM primitive");
    }
}
