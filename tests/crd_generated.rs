//! `crds/` must be exactly what the types in `src/crd/` generate. Plain `cargo test`, no
//! control plane: a change to the types that forgot to regenerate fails here with the fix.

use std::path::Path;

use ram_operator::crd::generate::{REGENERATE_COMMAND, compare_crd_dir};

#[test]
fn crds_directory_matches_the_types() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("crds");
    let drift = compare_crd_dir(&dir).expect("crds/ is readable");
    assert!(
        drift.is_empty(),
        "crds/ differs from the types in src/crd/:\n{drift}run `{REGENERATE_COMMAND}` to regenerate it"
    );
}
