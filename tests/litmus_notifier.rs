//! The litmus tests T1–T4 of `notifier_partial_init` (`litmus/notifier_partial_init/`, the shapes
//! of `kernel-models.md` §4.3) parse and check.

use std::path::Path;

#[test]
fn notifier_partial_init_litmus_tests_parse() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("litmus/notifier_partial_init");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "litmus"))
        .collect();
    names.sort();
    assert_eq!(names.len(), 4, "T1-T4");
    for (i, path) in names.iter().enumerate() {
        let src = std::fs::read_to_string(path).unwrap();
        kgrace::litmus::load(&src).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let name = path.file_stem().unwrap().to_str().unwrap();
        assert!(name.starts_with(&format!("T{}-", i + 1)), "{name}");
    }
}
