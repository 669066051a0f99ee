//! The core's segment document parser (what the collector and round-trip tests use): never
//! panics; an accepted document round-trips (parse → format → parse is stable) and what the
//! core writes back is accepted by the collector's rules.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxray_core::document::parse_document;
use oxray_fuzz::assert_document_round_trip;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let entity = match parse_document(text) {
        Ok(e) => e,
        Err(e) => {
            assert!(!e.reason.is_empty());
            return;
        }
    };
    let document = assert_document_round_trip(&entity);
    if let Err(e) = oxray_cli::validate::accept_bytes(&document) {
        panic!(
            "the collector refuses what the core wrote ({e:?}): {}",
            String::from_utf8_lossy(&document)
        );
    }
});
