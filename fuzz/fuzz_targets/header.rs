//! The `X-Amzn-Trace-Id` parser: never panics, and a parsed header formats to text that parses
//! back to the same header (without `Self`, which is never re-emitted) and formats the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxray_core::header::MAX_HEADER_LEN;
use oxray_core::id::{EntityId, TraceId};
use oxray_core::TraceHeader;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(header) = TraceHeader::parse(text) else {
        return;
    };
    let formatted = header.to_string();
    let expected = TraceHeader {
        self_id: None,
        ..header.clone()
    };
    if formatted.is_empty() {
        // Only `Self` was given: nothing to re-emit.
        assert_eq!(expected, TraceHeader::default(), "{text:?}");
        return;
    }
    let again = TraceHeader::parse(&formatted)
        .unwrap_or_else(|e| panic!("{text:?} formatted as {formatted:?}, which fails: {e}"));
    assert_eq!(again, expected, "{text:?} -> {formatted:?}");
    assert_eq!(again.to_string(), formatted);
    // What a server sends back and passes downstream must parse too.
    let root = header.root.unwrap_or(TraceId {
        epoch: 1,
        random: 2,
    });
    let response = TraceHeader::response(Some(&header), root, true);
    TraceHeader::parse(&response).unwrap_or_else(|e| panic!("response {response:?}: {e}"));
    let downstream = header.propagate(root, EntityId(7), false).to_string();
    // Adding Root and Parent can push a header near the size limit over it.
    if downstream.len() <= MAX_HEADER_LEN {
        let parsed = TraceHeader::parse(&downstream)
            .unwrap_or_else(|e| panic!("downstream {downstream:?}: {e}"));
        assert_eq!(parsed.extras, header.extras);
        assert_eq!(parsed.lineage, header.lineage);
    }
});
