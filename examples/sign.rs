//! Test-only signing entry point for the interop test against the official SDKs.
//!
//! Reads JSON lines on stdin, `{"method": "POST", "secret": "...", "params": {...}}`, and
//! writes one JSON line per input: `{"string_to_sign": "...", "signature": "..."}`.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};

use ram_operator::alicloud::signature::sign_rpc;
use serde::Deserialize;

#[derive(Deserialize)]
struct Case {
    method: String,
    secret: String,
    params: BTreeMap<String, String>,
}

fn main() -> anyhow::Result<()> {
    let stdin = std::io::stdin();
    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    for line in stdin.lock().lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let case: Case = serde_json::from_str(&line)?;
        let signed = sign_rpc(&case.method, &case.params, &case.secret);
        let answer = serde_json::json!({
            "string_to_sign": signed.string_to_sign,
            "signature": signed.signature,
        });
        writeln!(stdout, "{answer}")?;
        // One answer per line, flushed, so the caller can interleave writes and reads.
        stdout.flush()?;
    }
    Ok(())
}
