//! Replays every input kept under `fuzz/corpus/<target>/` and `fuzz/regressions/<target>/`
//! through the same functions the `cargo fuzz` targets call (`ram_operator::fuzzing`), so CI
//! checks past findings on stable Rust, without the fuzzer.

use std::path::Path;

use ram_operator::fuzzing::TARGETS;

fn inputs(dir: &Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn every_kept_fuzz_input_passes_its_target() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut replayed = 0;
    for (name, run) in TARGETS {
        assert!(
            root.join("fuzz_targets")
                .join(format!("{name}.rs"))
                .is_file(),
            "no fuzz target file for {name}"
        );
        let mut seeds = 0;
        for kind in ["corpus", "regressions"] {
            for path in inputs(&root.join(kind).join(name)) {
                let data = std::fs::read(&path).unwrap();
                let outcome = std::panic::catch_unwind(|| run(&data));
                assert!(outcome.is_ok(), "{} fails {name}", path.display());
                replayed += 1;
                seeds += 1;
            }
        }
        assert!(seeds > 0, "no kept input for {name}");
    }
    println!("replayed {replayed} fuzz inputs");
}
