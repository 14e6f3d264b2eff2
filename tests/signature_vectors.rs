//! Checks the request signer byte for byte against the shared vectors generated with the
//! official SDKs, plus any extra vector files named in `ALICLOUD_SIGNATURE_VECTORS`
//! (colon-separated paths, same format).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ram_operator::alicloud::signature::sign_rpc;
use serde::Deserialize;

#[derive(Deserialize)]
struct VectorFile {
    vectors: Vec<Vector>,
}

#[derive(Deserialize)]
struct Vector {
    #[serde(default)]
    name: String,
    method: String,
    access_key_secret: String,
    params: BTreeMap<String, String>,
    string_to_sign: String,
    signature: String,
}

/// Verifies every vector of `path` and returns how many there were.
fn verify_file(path: &Path) -> usize {
    let text = std::fs::read_to_string(path).unwrap_or_else(|error| {
        panic!("cannot read signature vectors {}: {error}", path.display())
    });
    let file: VectorFile = serde_json::from_str(&text)
        .unwrap_or_else(|error| panic!("{} is not a vector file: {error}", path.display()));
    assert!(
        !file.vectors.is_empty(),
        "{} holds no vectors",
        path.display()
    );
    for (index, vector) in file.vectors.iter().enumerate() {
        let signed = sign_rpc(&vector.method, &vector.params, &vector.access_key_secret);
        assert_eq!(
            signed.string_to_sign,
            vector.string_to_sign,
            "string to sign of vector #{index} {:?} in {}",
            vector.name,
            path.display()
        );
        assert_eq!(
            signed.signature,
            vector.signature,
            "signature of vector #{index} {:?} in {}",
            vector.name,
            path.display()
        );
    }
    file.vectors.len()
}

#[test]
fn signature_vectors() {
    let shared = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/reference/rpc-signature-vectors.json");
    assert!(
        shared.is_file(),
        "the shared signature vectors are missing: expected {} (the repository sits next to \
         the shared/ folder)",
        shared.display()
    );
    let mut files = vec![shared];
    if let Ok(extra) = std::env::var("ALICLOUD_SIGNATURE_VECTORS") {
        files.extend(
            extra
                .split(':')
                .filter(|part| !part.is_empty())
                .map(PathBuf::from),
        );
    }
    for path in files {
        let count = verify_file(&path);
        println!("verified {count} signature vectors from {}", path.display());
    }
}
