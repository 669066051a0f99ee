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
                let n = Counters::bump(&self.counters.send_errors);
                if worth_logging(n) {
                    crate::diag::error(&format!(
                        "the daemon address {} refused a document (nothing listening there?) (send error #{n})",
                        self.target
                    ));
                }
                socket.send(datagram).map(|_| ())
            }
            Err(e) => Err(e),
        }
    }
}

impl Emitter for UdpEmitter {
    fn emit(&self, datagram: Vec<u8>) {
        self.emit_borrowed(&datagram)
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
