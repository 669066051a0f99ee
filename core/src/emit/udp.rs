//! UDP to the X-Ray daemon, from the calling thread.

use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;

use super::{worth_logging, Counters, Emitter};

/// Sends each datagram with one `send()` on a socket connected to the daemon.
pub struct UdpEmitter {
    socket: Option<UdpSocket>,
    target: SocketAddr,
    counters: Arc<Counters>,
}

impl UdpEmitter {
    /// A socket bound to an ephemeral local port and connected to `target`. If the socket
    /// cannot be made, every datagram is counted as dropped and the reason is logged once.
    pub fn new(target: SocketAddr, counters: Arc<Counters>) -> UdpEmitter {
        let bind: SocketAddr = if target.is_ipv4() {
            ([0, 0, 0, 0], 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let socket = UdpSocket::bind(bind).and_then(|s| s.connect(target).map(|_| s));
        let socket = match socket {
            Ok(s) => Some(s),
            Err(e) => {
                crate::diag::error(&format!(
                    "cannot open a UDP socket to the daemon at {target}: {e}; documents will be dropped and counted"
                ));
                None
            }
        };
        UdpEmitter {
            socket,
            target,
            counters,
        }
    }

    /// The daemon address this emitter sends to.
    pub fn target(&self) -> SocketAddr {
        self.target
    }

    fn send(&self, socket: &UdpSocket, datagram: &[u8]) -> std::io::Result<()> {
        match socket.send(datagram) {
            Ok(_) => Ok(()),
            // A connected UDP socket reports an earlier ICMP "port unreachable" on the next
            // send, and that send is not performed; the error is now consumed, so retry once.
            // The earlier datagram was lost: nothing listens at the daemon address. It was
            // counted as sent, so the refusal shows as a send error (else a daemon that is
            // down would be invisible in the counters).
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
                self.note_refusal();
                socket.send(datagram).map(|_| ())
            }
            Err(e) => Err(e),
        }
    }

    /// Counts and logs a refusal reported by the kernel for an earlier datagram.
    fn note_refusal(&self) {
        let n = Counters::bump(&self.counters.send_errors);
        if worth_logging(n) {
            crate::diag::error(&format!(
                "the daemon address {} refused a document (nothing listening there?) (send error #{n})",
                self.target
            ));
        }
    }
}

/// Hands up to [`SEND_MANY_MAX`] datagrams to the kernel in one `sendmmsg` call and returns
/// how many it took (at least one, or an error about the first).
#[cfg(target_os = "linux")]
fn send_many(socket: &UdpSocket, datagrams: &[Vec<u8>]) -> std::io::Result<usize> {
    use std::os::fd::AsRawFd;
    let n = datagrams.len().min(SEND_MANY_MAX);
    // SAFETY: all-zero is a valid value of these plain C structs (null pointers, zero lengths).
    let mut iovecs: [libc::iovec; SEND_MANY_MAX] = unsafe { std::mem::zeroed() };
    let mut messages: [libc::mmsghdr; SEND_MANY_MAX] = unsafe { std::mem::zeroed() };
    for (i, datagram) in datagrams[..n].iter().enumerate() {
        iovecs[i] = libc::iovec {
            iov_base: datagram.as_ptr() as *mut libc::c_void,
            iov_len: datagram.len(),
        };
        // No address: the socket is connected to the daemon.
        messages[i].msg_hdr.msg_iov = &mut iovecs[i];
        messages[i].msg_hdr.msg_iovlen = 1;
    }
    // SAFETY: `messages[..n]` point at `iovecs[..n]`, which point at the datagrams; all of
    // them outlive the call, and the kernel only reads the buffers.
    let sent = unsafe {
        libc::sendmmsg(
            socket.as_raw_fd(),
            messages.as_mut_ptr(),
            n as libc::c_uint,
            0,
        )
    };
    if sent < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(sent as usize)
    }
}

/// Elsewhere: one datagram at a time (the caller falls back to `send`).
#[cfg(not(target_os = "linux"))]
fn send_many(_socket: &UdpSocket, _datagrams: &[Vec<u8>]) -> std::io::Result<usize> {
    Ok(0)
}

/// Datagrams per `sendmmsg` call.
const SEND_MANY_MAX: usize = 64;

impl Emitter for UdpEmitter {
    fn emit(&self, datagram: Vec<u8>) {
        self.emit_borrowed(&datagram)
    }

    /// Many datagrams per system call (the background sender drains its queue in batches).
    /// Whatever `sendmmsg` does not take goes through [`Emitter::emit_borrowed`], which
    /// handles and counts the errors.
    fn emit_batch_borrowed(&self, datagrams: &[Vec<u8>]) {
        let Some(socket) = &self.socket else {
            self.counters
                .dropped
                .fetch_add(datagrams.len() as u64, std::sync::atomic::Ordering::Relaxed);
            return;
        };
        let mut rest = datagrams;
        while !rest.is_empty() {
            match send_many(socket, rest) {
                Ok(taken) if taken > 0 => {
                    self.counters
                        .sent
                        .fetch_add(taken as u64, std::sync::atomic::Ordering::Relaxed);
                    // A blocking socket takes a whole batch unless a send failed; when that
                    // happens after the first datagram, sendmmsg returns the short count and
                    // drops the error (sendmmsg(2), BUGS). On a connected UDP socket that
                    // error is the refusal of an earlier datagram: count it, or a daemon that
                    // is down would look healthy whenever the refusal lands mid-batch.
                    if taken < rest.len().min(SEND_MANY_MAX) {
                        self.note_refusal();
                    }
                    rest = &rest[taken..];
                }
                // The error of an earlier datagram, consumed by this call: count it and retry.
                Err(e) if e.kind() == ErrorKind::ConnectionRefused => self.note_refusal(),
                _ => {
                    self.emit_borrowed(&rest[0]);
                    rest = &rest[1..];
                }
            }
        }
    }

    fn emit_borrowed(&self, datagram: &[u8]) {
        let Some(socket) = &self.socket else {
            Counters::bump(&self.counters.dropped);
            return;
        };
        match self.send(socket, datagram) {
            Ok(()) => {
                Counters::bump(&self.counters.sent);
            }
            Err(e) => {
                Counters::bump(&self.counters.dropped);
                let n = Counters::bump(&self.counters.send_errors);
                if worth_logging(n) {
                    crate::diag::error(&format!(
                        "failed to send a {} byte document to the daemon at {}: {e} (send error #{n})",
                        datagram.len(),
                        self.target
                    ));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    fn emitter_to(target: SocketAddr) -> (UdpEmitter, Arc<Counters>) {
        let counters = Arc::new(Counters::default());
        (UdpEmitter::new(target, Arc::clone(&counters)), counters)
    }

    #[test]
    fn a_batch_arrives_whole_and_in_order() {
        let listener = UdpSocket::bind("127.0.0.1:0").unwrap();
        listener
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let (emitter, counters) = emitter_to(listener.local_addr().unwrap());
        // More than one sendmmsg call's worth, of varied sizes, small enough for the
        // listener's default receive buffer to hold them all.
        let batch: Vec<Vec<u8>> = (0..100)
            .map(|i| format!("datagram {i} {}", "x".repeat(i % 13)).into_bytes())
            .collect();
        emitter.emit_batch_borrowed(&batch);
        assert_eq!(counters.sent.load(Ordering::Relaxed), 100);
        let mut buf = vec![0u8; 4096];
        for expected in &batch {
            let n = listener.recv(&mut buf).unwrap();
            assert_eq!(&buf[..n], &expected[..]);
        }
    }

    #[test]
    fn a_batch_to_a_closed_port_is_counted_never_lost_silently() {
        let closed = UdpSocket::bind("127.0.0.1:0").unwrap();
        let target = closed.local_addr().unwrap();
        drop(closed);
        let (emitter, counters) = emitter_to(target);
        let batch: Vec<Vec<u8>> = (0..100).map(|i| vec![b'a'; i + 1]).collect();
        for _ in 0..3 {
            emitter.emit_batch_borrowed(&batch);
        }
        let sent = counters.sent.load(Ordering::Relaxed);
        let dropped = counters.dropped.load(Ordering::Relaxed);
        // Every datagram is accounted for, and the refusals show as send errors.
        assert_eq!(sent + dropped, 300);
        assert!(counters.send_errors.load(Ordering::Relaxed) > 0);
    }
}
