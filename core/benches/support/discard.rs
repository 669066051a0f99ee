//! The emitter the core benchmarks measure with, shared by `benches/core.rs` and
//! `examples/hot_path.rs` (the same loop under callgrind).

use oxray_core::emit::Emitter;

/// Throws datagrams away but, like the background sender, hands their buffers back for
/// reuse: measures everything but the send.
#[derive(Default)]
pub struct Discard {
    spare: std::sync::Mutex<Vec<Vec<u8>>>,
}

impl Emitter for Discard {
    fn emit(&self, mut datagram: Vec<u8>) {
        std::hint::black_box(&datagram);
        datagram.clear();
        if let Ok(mut spare) = self.spare.lock() {
            spare.push(datagram);
        }
    }

    fn take_buffer(&self) -> Vec<u8> {
        self.spare
            .lock()
            .ok()
            .and_then(|mut s| s.pop())
            .unwrap_or_else(|| Vec::with_capacity(512))
    }
}
