//! Judging the soak per driver from its `SOAK {json}` report and what the listener received:
//! every completed entity arrived (or the counters explain the difference), nothing invalid or
//! over the bound, no driver errors, and RSS flat after warm-up.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde_json::Value;

use crate::tally::Received;

/// The first seconds are warm-up (caches, allocator arenas, queues and JIT reach their working
/// size) and are not judged.
const WARMUP_SECONDS: usize = 10;
/// After warm-up, the second half's median RSS may exceed the first half's by at most this, or
/// 20% of it if that is more. Medians, not peaks: a bounded queue under saturation makes RSS
/// swing by tens of MiB within seconds (the C driver's background queue fills and drains),
/// and V8 grows its heap in steps towards its cap; a leak moves the whole second half up:
/// 16 MiB over the ~25 s between the two medians of a 60 s run catches a leak of 0.6 MiB/s
/// (40 bytes per entity at the Node driver's rate, 5 at the C driver's). Observed on the
/// 2-core machine, 60 s: Python 16.5 -> 17.0 MiB, Node (96 MiB old space) about 111 -> 112,
/// C 9.8 -> 16.7 with peaks at 64.
const RSS_SLACK_KB: u64 = 16 * 1024;

/// One driver's report line.
struct Report {
    completed: u64,
    sent: u64,
    dropped: u64,
    send_errors: u64,
    rss_kb: Vec<u64>,
    errors: u64,
}

fn parse_report(json: &str) -> Result<(String, Report), String> {
    let v: Value = serde_json::from_str(json).map_err(|e| format!("not JSON: {e}"))?;
    let num = |v: Option<&Value>, what: &str| {
        v.and_then(Value::as_u64)
            .ok_or_else(|| format!("{what} is missing or not a count"))
    };
    let counters = v.get("counters");
    let tag = v
        .get("tag")
        .and_then(Value::as_str)
        .ok_or("tag is missing")?
        .to_string();
    let rss_kb = v
        .get("rss_kb")
        .and_then(Value::as_array)
        .ok_or("rss_kb is missing")?
        .iter()
        .map(|s| s.as_u64().ok_or("an rss_kb sample is not a count"))
        .collect::<Result<Vec<u64>, _>>()?;
    Ok((
        tag,
        Report {
            completed: num(v.get("completed_entities"), "completed_entities")?,
            sent: num(counters.and_then(|c| c.get("sent")), "counters.sent")?,
            dropped: num(counters.and_then(|c| c.get("dropped")), "counters.dropped")?,
            // Node's snapshot spells it the JavaScript way.
            send_errors: num(
                counters.and_then(|c| c.get("send_errors").or_else(|| c.get("sendErrors"))),
                "counters.send_errors",
            )?,
            rss_kb,
            errors: num(v.get("errors"), "errors")?,
        },
    ))
}

/// RSS at the start and the end, each half's median after warm-up, the peak, and the bound on
/// the second half's median.
struct RssCheck {
    first: u64,
    median_first_half: u64,
    median_second_half: u64,
    peak: u64,
    bound: u64,
}

fn median(samples: &[u64]) -> u64 {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    sorted[sorted.len() / 2]
}

fn rss_check(samples: &[u64]) -> Option<RssCheck> {
    // Short runs (by hand) scale the warm-up down; a 60 s run uses 10 s.
    let warmup = WARMUP_SECONDS.min(samples.len() / 4);
    let half = samples.len() / 2;
    if warmup == 0 || half <= warmup {
        return None;
    }
    let median_first_half = median(&samples[warmup..half]);
    Some(RssCheck {
        first: samples[0],
        median_first_half,
        median_second_half: median(&samples[half..]),
        peak: *samples.iter().max()?,
        bound: median_first_half + RSS_SLACK_KB.max(median_first_half / 5),
    })
}

/// Every fifth sample, in MiB, for the log.
fn series(samples: &[u64]) -> String {
    samples
        .iter()
        .step_by(5)
        .map(|kb| format!("{:.0}", *kb as f64 / 1024.0))
        .collect::<Vec<_>>()
        .join(" ")
}

fn mib(kb: u64) -> String {
    format!("{:.1}", kb as f64 / 1024.0)
}

pub struct Verdict {
    pub passed: bool,
    pub text: String,
}

pub fn judge(
    tags: &[String],
    lines: &[String],
    received: &Received,
    kernel_drops: Option<u64>,
) -> Verdict {
    let mut problems: Vec<String> = Vec::new();
    let mut reports: BTreeMap<String, Report> = BTreeMap::new();
    for line in lines {
        if let Some(json) = line.strip_prefix("SOAK ") {
            match parse_report(json) {
                Ok((tag, report)) => {
                    if reports.insert(tag.clone(), report).is_some() {
                        problems.push(format!("{tag}: two reports"));
                    }
                }
                Err(e) => problems.push(format!("a report does not parse: {e}: {json}")),
            }
        }
    }
    let drops = kernel_drops.unwrap_or(0);
    if received.bad_frames + received.not_json + received.refused + received.oversize > 0 {
        problems.push(format!(
            "invalid datagrams: {} bad frames, {} not JSON, {} refused, {} over 64,000 bytes",
            received.bad_frames, received.not_json, received.refused, received.oversize
        ));
    }
    if received.unattributed > 0 {
        problems.push(format!(
            "{} entities without a soak-<tag> name",
            received.unattributed
        ));
    }
    let mut text = String::new();
    let _ = writeln!(
        text,
        "{:<5} {:>22} {:>9} {:>21} {:>7} {:>27} {:>7}",
        "tag",
        "entities recv/ended",
        "ent/s",
        "docs recv/sent",
        "q.drop",
        "RSS MiB 1s/med1/med2/peak",
        "bound"
    );
    let (mut total_sent, mut total_docs) = (0u64, 0u64);
    for tag in tags {
        let counts = &received.per_tag[tag];
        total_docs += counts.documents;
        let Some(r) = reports.get(tag) else {
            problems.push(format!(
                "{tag}: no SOAK report (the driver failed or did not run)"
            ));
            continue;
        };
        total_sent += r.sent;
        let seconds = r.rss_kb.len().max(1) as f64;
        let lossless = kernel_drops == Some(0) && r.dropped == 0;
        if r.errors > 0 {
            problems.push(format!("{tag}: the driver saw {} errors", r.errors));
        }
        if lossless && (counts.completed != r.completed || counts.documents != r.sent) {
            problems.push(format!(
                "{tag}: nothing was dropped, yet {} of {} completed entities and {} of {} documents arrived",
                counts.completed, r.completed, counts.documents, r.sent
            ));
        }
        if counts.completed > r.completed || counts.documents > r.sent {
            problems.push(format!(
                "{tag}: more arrived than was sent ({} entities for {} ended, {} documents for {} sent)",
                counts.completed, r.completed, counts.documents, r.sent
            ));
        }
        if counts.duplicates > 0 || counts.warnings > 0 {
            problems.push(format!(
                "{tag}: {} duplicated entities, {} documents stricter receivers refuse",
                counts.duplicates, counts.warnings
            ));
        }
        if r.send_errors > 0 && r.dropped == 0 {
            problems.push(format!("{tag}: {} send errors", r.send_errors));
        }
        let rss = rss_check(&r.rss_kb);
        match &rss {
            Some(c) if c.median_second_half > c.bound => problems.push(format!(
                "{tag}: RSS grew after warm-up: median {} MiB in the second half, bound {} MiB",
                mib(c.median_second_half),
                mib(c.bound)
            )),
            Some(_) => {}
            None => problems.push(format!(
                "{tag}: only {} RSS samples, too few to judge",
                r.rss_kb.len()
            )),
        }
        let rss_text = rss.as_ref().map_or("-".into(), |c| {
            format!(
                "{}/{}/{}/{}",
                mib(c.first),
                mib(c.median_first_half),
                mib(c.median_second_half),
                mib(c.peak)
            )
        });
        let _ = writeln!(
            text,
            "{:<5} {:>22} {:>9.0} {:>21} {:>7} {:>27} {:>7}",
            tag,
            format!("{}/{}", counts.completed, r.completed),
            r.completed as f64 / seconds,
            format!("{}/{}", counts.documents, r.sent),
            r.dropped,
            rss_text,
            rss.as_ref().map_or("-".into(), |c| mib(c.bound)),
        );
    }
    for tag in tags {
        if let Some(r) = reports.get(tag) {
            let _ = writeln!(text, "{tag:<5} RSS MiB every 5 s: {}", series(&r.rss_kb));
        }
    }
    // Every document handed to the socket arrived, or the kernel counted it as dropped.
    if reports.len() == tags.len() && total_sent != total_docs + drops {
        problems.push(format!(
            "documents sent {total_sent} != received {total_docs} + kernel drops {drops}"
        ));
    }
    let _ = writeln!(
        text,
        "largest document {} bytes; {} documents sampled for the schema check",
        received.largest, received.sampled
    );
    for e in &received.examples {
        let _ = writeln!(text, "  e.g. {e}");
    }
    for p in &problems {
        let _ = writeln!(text, "FAIL {p}");
    }
    if problems.is_empty() {
        let _ = writeln!(text, "soak: every check passed");
    }
    Verdict {
        passed: problems.is_empty(),
        text,
    }
}
