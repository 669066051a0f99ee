//! Keeps datagrams in memory, for tests and for `oxray.testing`-style capture.

use std::sync::{Arc, Mutex};

use super::{Counters, Emitter};

/// Stores every datagram it is given.
pub struct MemoryEmitter {
    datagrams: Mutex<Vec<Vec<u8>>>,
    counters: Arc<Counters>,
}

impl MemoryEmitter {
    pub fn new(counters: Arc<Counters>) -> MemoryEmitter {
        MemoryEmitter {
            datagrams: Mutex::new(Vec::new()),
            counters,
        }
    }

    /// Removes and returns the documents (JSON text, frame header stripped) received so far.
    pub fn take_documents(&self) -> Vec<String> {
        let taken = std::mem::take(&mut *self.datagrams.lock().unwrap_or_else(|e| e.into_inner()));
        taken
            .iter()
            .map(|d| String::from_utf8_lossy(crate::json::document_of(d)).into_owned())
            .collect()
    }

    /// Removes and returns the raw datagrams (frame header included).
    pub fn take_datagrams(&self) -> Vec<Vec<u8>> {
        std::mem::take(&mut *self.datagrams.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl Emitter for MemoryEmitter {
    fn emit(&self, datagram: Vec<u8>) {
        self.datagrams
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(datagram);
        Counters::bump(&self.counters.sent);
    }
}
