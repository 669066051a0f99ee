//! Helpers shared by the fuzz targets: silencing the core's diagnostics, the schema + strict
//! document check of the core's integration tests (the same file, not a copy), and the
//! document round-trip property.

use std::sync::Once;

use oxray_core::document::{parse_document, to_document, ParsedEntity};

/// The core's integration-test helpers; the fuzz targets use only `validate_document`.
#[path = "../../core/tests/common/mod.rs"]
pub mod common;

/// Discards the core's warnings: fuzz input makes thousands and they would bury libFuzzer's
/// own output. They are still counted by the recorder.
pub fn quiet() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| oxray_core::diag::set_sink(Some(std::sync::Arc::new(|_, _| {}))));
}

/// Panics unless `text` is valid JSON, at most 64,000 bytes, schema-valid and passes the
/// stricter receivers' rules.
pub fn assert_valid_document(text: &str) {
    common::validate_document(text);
}

/// The round trip of a parsed entity: its document must be JSON that parses again, and the
/// second serialization must be the same bytes as the first (parse → format → parse is
/// stable). Returns the document.
pub fn assert_document_round_trip(entity: &ParsedEntity) -> Vec<u8> {
    let first = to_document(entity);
    let text = std::str::from_utf8(&first).expect("a document is UTF-8");
    serde_json::from_str::<serde_json::Value>(text)
        .unwrap_or_else(|e| panic!("a written document is not JSON ({e}): {text}"));
    let again = parse_document(text)
        .unwrap_or_else(|e| panic!("a written document does not parse again ({e}): {text}"));
    let second = to_document(&again);
    assert_eq!(
        text,
        String::from_utf8_lossy(&second),
        "the document changed on its second round trip"
    );
    first
}
