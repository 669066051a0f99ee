//! Counting what arrives: datagrams judged by the collector's frame and document rules, and
//! the entities in each document attributed to a driver by their `soak-<tag>` name prefix.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};

use oxray_cli::frame;
use oxray_cli::validate::{self, InvalidKind, MAX_DOCUMENT_BYTES};
use oxray_core::document::ParsedEntity;

/// Documents written to the sample file: all of the first ones, then one in `SAMPLE_EVERY`.
const SAMPLE_FIRST: u64 = 1000;
const SAMPLE_EVERY: u64 = 50;
/// Problems quoted in the report, at most.
const EXAMPLES: usize = 5;

/// What arrived for one driver.
#[derive(Default)]
pub struct TagCounts {
    pub documents: u64,
    /// Entities with an `end_time` (the driver ended them).
    pub completed: u64,
    pub in_progress: u64,
    /// What stricter receivers than the service would refuse (validate's warnings).
    pub warnings: u64,
    /// Completed entity ids, for finding duplicates.
    ids: Vec<u64>,
    pub duplicates: u64,
}

/// Everything the listener received.
#[derive(Default)]
pub struct Received {
    pub datagrams: u64,
    pub per_tag: BTreeMap<String, TagCounts>,
    pub bad_frames: u64,
    pub not_json: u64,
    pub refused: u64,
    pub oversize: u64,
    pub largest: usize,
    /// Entities whose name carries no driver's tag (documents whose top entity has none
    /// are counted here too).
    pub unattributed: u64,
    pub examples: Vec<String>,
    pub sampled: u64,
}

pub struct Tally {
    /// Longest first, so that a tag that is a prefix of another does not take its entities.
    tags: Vec<String>,
    sample: BufWriter<File>,
    received: Received,
}

impl Tally {
    pub fn new(tags: &[String], sample_path: &str) -> Result<Tally, String> {
        let mut tags = tags.to_vec();
        tags.sort_by_key(|t| std::cmp::Reverse(t.len()));
        let sample = File::create(sample_path).map_err(|e| format!("{sample_path}: {e}"))?;
        let mut received = Received::default();
        for t in &tags {
            received.per_tag.insert(t.clone(), TagCounts::default());
        }
        Ok(Tally {
            tags,
            sample: BufWriter::new(sample),
            received,
        })
    }

    fn tag_of(&self, name: &str) -> Option<&str> {
        let rest = name.strip_prefix("soak-")?;
        self.tags
            .iter()
            .find(|t| rest.starts_with(t.as_str()))
            .map(String::as_str)
    }

    fn example(&mut self, what: String) {
        if self.received.examples.len() < EXAMPLES {
            self.received.examples.push(what);
        }
    }

    /// Judges one datagram and counts what it holds.
    pub fn datagram(&mut self, datagram: &[u8]) {
        self.received.datagrams += 1;
        let body = match frame::split(datagram) {
            Ok(body) => body,
            Err(e) => {
                self.received.bad_frames += 1;
                self.example(format!("bad frame: {e}"));
                return;
            }
        };
        self.received.largest = self.received.largest.max(body.len());
        if body.len() > MAX_DOCUMENT_BYTES {
            self.received.oversize += 1;
            self.example(format!("a document of {} bytes", body.len()));
        }
        let n = self.received.datagrams;
        if n <= SAMPLE_FIRST || n % SAMPLE_EVERY == 0 {
            self.received.sampled += 1;
            // A write error shows as a short sample, which the schema step reports.
            let _ = self.sample.write_all(body);
            let _ = self.sample.write_all(b"\n");
        }
        let accepted = match validate::judge_bytes(body).and_then(validate::Judged::accept) {
            Ok(a) => a,
            Err(invalid) => {
                match invalid.kind {
                    InvalidKind::NotJson => self.received.not_json += 1,
                    InvalidKind::Frame => self.received.bad_frames += 1,
                    InvalidKind::Refused | InvalidKind::Unreadable => self.received.refused += 1,
                }
                self.example(format!("invalid document: {}", invalid.reason));
                return;
            }
        };
        let top = self.tag_of(&accepted.entity.data.name).map(str::to_string);
        match &top {
            Some(t) => {
                let counts = self.received.per_tag.get_mut(t).expect("known tag");
                counts.documents += 1;
                counts.warnings += accepted.warnings.len() as u64;
            }
            None => self.received.unattributed += 1,
        }
        if let Some(w) = accepted.warnings.first() {
            self.example(format!("stricter receivers would refuse: {w}"));
        }
        self.count_entities(&accepted.entity);
    }

    fn count_entities(&mut self, entity: &ParsedEntity) {
        match self.tag_of(&entity.data.name).map(str::to_string) {
            Some(t) => {
                let counts = self.received.per_tag.get_mut(&t).expect("known tag");
                if entity.data.end_micros.is_some() {
                    counts.completed += 1;
                    counts.ids.push(entity.id.0);
                } else {
                    counts.in_progress += 1;
                }
            }
            None => {
                self.received.unattributed += 1;
                let name = entity.data.name.clone();
                self.example(format!("an entity without a soak-<tag> name: {name:?}"));
            }
        }
        for child in &entity.subsegments {
            self.count_entities(child);
        }
    }

    /// Flushes the sample file and finds duplicated entity ids.
    pub fn finish(mut self) -> Result<Received, String> {
        self.sample
            .flush()
            .map_err(|e| format!("sample file: {e}"))?;
        for counts in self.received.per_tag.values_mut() {
            counts.ids.sort_unstable();
            counts.duplicates = counts.ids.windows(2).filter(|w| w[0] == w[1]).count() as u64;
            counts.ids = Vec::new();
        }
        Ok(self.received)
    }
}
