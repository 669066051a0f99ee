//! X-Ray filter expressions (`oxray show --filter`): never panic (deep nesting included); a
//! refused expression names a position inside it and renders with a caret; an accepted one
//! evaluates over a small reassembled trace.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use oxray_cli::assemble::{Received, Trace, TraceTree};
use oxray_cli::filter::Filter;
use oxray_core::document::parse_document;

/// A segment with an annotated, failed HTTP subsegment: every filter field has a value.
const DOCUMENT: &str = r#"{"name":"web","id":"70de5b6f19ff9a0a","trace_id":"1-581cf771-a006649127e371903a2de979","start_time":1478293361.271,"end_time":1478293361.449,"http":{"request":{"method":"GET","url":"https://example.com/a","user_agent":"curl","client_ip":"10.0.0.1"},"response":{"status":502}},"user":"alice","fault":true,"annotations":{"k":"v","n":3,"b":true},"subsegments":[{"name":"db","id":"70de5b6f19ff9a0b","start_time":1478293361.3,"end_time":1478293361.4,"error":true,"annotations":{"k":2.5},"http":{"response":{"status":429}},"throttle":true}]}"#;

fn tree() -> &'static TraceTree {
    static T: OnceLock<TraceTree> = OnceLock::new();
    T.get_or_init(|| {
        let entity = parse_document(DOCUMENT).expect("the fixed document parses");
        let mut trace = Trace::new(entity.trace_id.expect("trace id"));
        trace.add(Received {
            seq: 0,
            entity,
            warnings: Vec::new(),
            size: DOCUMENT.len(),
        });
        trace.tree()
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Filter::parse(text) {
        Ok(filter) => {
            let _ = filter.matches(tree());
        }
        Err(e) => {
            assert!(e.position <= text.len(), "{e} in {text:?}");
            assert!(!e.message.is_empty());
            let _ = e.render(text);
        }
    }
});
