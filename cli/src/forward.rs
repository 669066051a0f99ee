//! `--forward host:port`: every valid datagram is sent on, unchanged (frame header included),
//! so the collector can sit in front of the X-Ray daemon or an OpenTelemetry collector's
//! awsxray receiver.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};

/// Sends datagrams to the forward targets.
pub struct Forwarder {
    targets: Vec<(UdpSocket, SocketAddr)>,
}

/// Resolves `host:port` to one address (the first the resolver gives).
pub fn resolve(target: &str) -> io::Result<SocketAddr> {
    target.to_socket_addrs()?.next().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("{target} resolves to no address"),
        )
    })
}

impl Forwarder {
    /// One unconnected socket per target, of the target's address family.
    pub fn new(targets: &[SocketAddr]) -> io::Result<Forwarder> {
        let mut out = Vec::new();
        for t in targets {
            let local: SocketAddr = if t.is_ipv4() {
                ([0, 0, 0, 0], 0).into()
            } else {
                (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
            };
            out.push((UdpSocket::bind(local)?, *t));
        }
        Ok(Forwarder { targets: out })
    }

    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// Sends `datagram` to every target; returns (sent, failed).
    pub fn send(&self, datagram: &[u8]) -> (u64, u64) {
        let (mut sent, mut failed) = (0, 0);
        for (socket, target) in &self.targets {
            match socket.send_to(datagram, target) {
                Ok(n) if n == datagram.len() => sent += 1,
                _ => failed += 1,
            }
        }
        (sent, failed)
    }
}
