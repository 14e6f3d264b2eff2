//! The chart installs the CRDs from its own `crds/` directory (Helm's convention), which must be
//! exactly what the types generate, like the top-level `crds/`. Plain `cargo test`.

use std::path::Path;

use ram_operator::crd::generate::compare_crd_dir;

#[test]
fn chart_crds_match_the_types() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("charts/ram-operator/crds");
    let drift = compare_crd_dir(&dir).expect("charts/ram-operator/crds is readable");
    assert!(
        drift.is_empty(),
        "charts/ram-operator/crds differs from the types in src/crd/:\n{drift}\
         run `make crds` to regenerate both copies"
    );
}
