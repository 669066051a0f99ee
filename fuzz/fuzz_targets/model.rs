//! The model driven by fuzz bytes: segments and subsegments begun, annotated, given metadata,
//! exceptions, HTTP/SQL/AWS fields and odd end times, ended in any order, flushed or dropped
//! unended, with arbitrary strings, huge values and NaN. Every emitted document must be valid
//! JSON, at most 64,000 bytes, schema-valid and pass the stricter receivers' rules; the
//! recorder answers bad input with an error, never a panic.
#![no_main]

use std::time::Duration;

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use oxray_core::model::{Exception, HttpRequest, JsonText, Sql, StackFrame};
use oxray_core::sampling::SamplingRequest;
use oxray_core::{AnnotationValue, Entity, Namespace, Recorder, TraceHeader};

/// Most operations per input, and most entities alive at once.
const MAX_OPS: usize = 96;
const MAX_ENTITIES: usize = 48;

/// A string from the input; sometimes repeated into a huge one (up to ~200 KB).
fn text(u: &mut Unstructured<'_>) -> Result<String> {
    let base: String = u.arbitrary()?;
    Ok(match u.int_in_range(0u8..=15)? {
        0 => {
            base.repeat(usize::from(u.int_in_range(1u16..=4000)?).min(200_000 / base.len().max(1)))
        }
        1 => "x".repeat(u.int_in_range(900usize..=70_000)?),
        _ => base,
    })
}

fn annotation(u: &mut Unstructured<'_>) -> Result<AnnotationValue> {
    Ok(match u.int_in_range(0u8..=5)? {
        0 => AnnotationValue::Str(text(u)?),
        1 => AnnotationValue::Int(u.arbitrary()?),
        2 => AnnotationValue::Float(f64::from_bits(u.arbitrary()?)),
        3 => AnnotationValue::Float(*u.choose(&[
            f64::NAN,
            f64::INFINITY,
            -f64::INFINITY,
            f64::MAX,
            -0.0,
            f64::MIN_POSITIVE,
        ])?),
        _ => AnnotationValue::Bool(u.arbitrary()?),
    })
}

fn exception(u: &mut Unstructured<'_>) -> Result<Exception> {
    let mut e = Exception::new(u.arbitrary()?, u.arbitrary()?);
    e.remote = u.arbitrary()?;
    let frames = u.int_in_range(0usize..=3000)?;
    let label: Option<String> = u.arbitrary()?;
    e.stack = (0..frames)
        .map(|i| StackFrame {
            path: label.clone(),
            line: Some(i as u32),
            label: label.clone(),
        })
        .collect();
    Ok(e)
}

/// One operation on `entities`; errors from the recorder are fine, panics are not.
fn step(u: &mut Unstructured<'_>, recorder: &Recorder, entities: &mut Vec<Entity>) -> Result<()> {
    let op = u.int_in_range(0u8..=15)?;
    if entities.is_empty() || (op == 0 && entities.len() < MAX_ENTITIES) {
        let header_text: String = u.arbitrary()?;
        let header = TraceHeader::parse(&header_text).ok();
        let name = text(u)?;
        entities.push(recorder.begin_segment(
            Some(&name),
            header.as_ref(),
            &SamplingRequest::default(),
        ));
        return Ok(());
    }
    let i = u.choose_index(entities.len())?;
    let e = &entities[i];
    match op {
        1 | 2 if entities.len() < MAX_ENTITIES => {
            let child = e.begin_subsegment(&text(u)?);
            entities.push(child);
        }
        3 | 4 => {
            let _ = e.put_annotation(&text(u)?, annotation(u)?);
        }
        5 => {
            let ns: Option<String> = u.arbitrary()?;
            let _ = e.put_metadata_json(ns.as_deref(), &text(u)?, &text(u)?);
        }
        6 => {
            let value = JsonText::from_value(&serde_json::Value::String(text(u)?));
            let _ = e.put_metadata(None, &text(u)?, value);
        }
        7 => {
            let wd: Option<String> = u.arbitrary()?;
            let _ = e.add_exception(exception(u)?, wd.as_deref());
        }
        8 => {
            let _ = e.set_http_request(HttpRequest {
                method: u.arbitrary()?,
                url: Some(text(u)?),
                user_agent: u.arbitrary()?,
                client_ip: u.arbitrary()?,
                x_forwarded_for: u.arbitrary()?,
                traced: u.arbitrary()?,
            });
            let _ = e.set_http_response(u.arbitrary()?, u.arbitrary()?);
        }
        9 => {
            let _ = e.set_sql(Sql {
                url: u.arbitrary()?,
                sanitized_query: Some(text(u)?),
                user: u.arbitrary()?,
                ..Sql::default()
            });
            let _ = e.set_namespace(*u.choose(&[
                None,
                Some(Namespace::Aws),
                Some(Namespace::Remote),
            ])?);
        }
        10 => {
            let _ = e.set_aws(&text(u)?, serde_json::Value::String(text(u)?));
            let _ = e.set_user(&text(u)?);
            let _ = e.set_name(&text(u)?);
            let _ = e.set_origin(&text(u)?);
            let _ = e.set_service(&text(u)?, &text(u)?);
        }
        11 => {
            // What an open entity shows of itself is a document like any sent one.
            if let Some(document) = e.document_now() {
                oxray_fuzz::assert_valid_document(&document);
            }
            let _ = e.send_in_progress();
        }
        12 => {
            // Any end time: before the start, far future, zero.
            let _ = e.end_at(u.arbitrary()?);
        }
        13 => {
            // Dropped without end(): sent as in-progress when the last handle goes.
            entities.swap_remove(i);
        }
        14 => {
            recorder.flush(Duration::from_secs(1));
        }
        _ => {
            let _ = e.end();
        }
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    oxray_fuzz::quiet();
    let recorder = Recorder::in_memory();
    let mut u = Unstructured::new(data);
    let mut entities = Vec::new();
    for _ in 0..MAX_OPS {
        if u.is_empty() || step(&mut u, &recorder, &mut entities).is_err() {
            break;
        }
    }
    // Children end before parents (reverse creation order) so every document is complete.
    for e in entities.iter().rev() {
        let _ = e.end();
    }
    drop(entities);
    recorder.flush(Duration::from_secs(1));
    for document in recorder.take_documents() {
        oxray_fuzz::assert_valid_document(&document);
    }
});
