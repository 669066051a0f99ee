//! The UDP socket of the collector: a large receive buffer, batched reads (`recvmmsg` on
//! Linux: one system call for up to [`BATCH`] datagrams), and the kernel's count of datagrams
//! it dropped for want of buffer space (Linux `/proc/net/udp*`), so that loss under a flood is
//! reported instead of silent.

use std::io;
use std::net::{SocketAddr, UdpSocket};

/// Receive buffer asked for; the kernel caps it at `net.core.rmem_max`.
const RECEIVE_BUFFER_BYTES: usize = 8 * 1024 * 1024;

/// Binds `addr` and enlarges the receive buffer (best effort).
pub fn bind(addr: SocketAddr) -> io::Result<UdpSocket> {
    let socket = UdpSocket::bind(addr)?;
    enlarge_receive_buffer(&socket);
    Ok(socket)
}

#[cfg(unix)]
fn enlarge_receive_buffer(socket: &UdpSocket) {
    use std::os::fd::AsRawFd;
    let size = RECEIVE_BUFFER_BYTES as libc::c_int;
    // SAFETY: a valid socket descriptor and a pointer to a c_int of the stated length.
    unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&size as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

#[cfg(not(unix))]
fn enlarge_receive_buffer(_socket: &UdpSocket) {}

/// Datagrams read per batch at most.
pub const BATCH: usize = 32;

/// Largest datagram read whole (the daemon's buffer is 64 KiB; an IPv4 UDP payload is at most
/// 65,507 bytes).
const DATAGRAM_BYTES: usize = 65_536;

/// Reads datagrams in batches, into buffers it owns.
pub struct BatchReader {
    buffers: Vec<Vec<u8>>,
}

impl Default for BatchReader {
    fn default() -> Self {
        BatchReader {
            buffers: (0..BATCH).map(|_| vec![0u8; DATAGRAM_BYTES]).collect(),
        }
    }
}

impl BatchReader {
    /// Waits (up to the socket's read timeout) for at least one datagram, then reads every
    /// datagram already queued, up to [`BATCH`], calling `each` for each one. Returns how many
    /// were read; a timeout is `Ok(0)`.
    #[cfg(target_os = "linux")]
    pub fn read(
        &mut self,
        socket: &UdpSocket,
        mut each: impl FnMut(&[u8], SocketAddr),
    ) -> io::Result<usize> {
        use std::os::fd::AsRawFd;
        // SAFETY: all-zero is a valid value for these plain C structs.
        let mut addrs: [libc::sockaddr_storage; BATCH] = unsafe { std::mem::zeroed() };
        let mut iovecs: Vec<libc::iovec> = self
            .buffers
            .iter_mut()
            .map(|b| libc::iovec {
                iov_base: b.as_mut_ptr().cast(),
                iov_len: b.len(),
            })
            .collect();
        // SAFETY: as above.
        let mut messages: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
        for (i, m) in messages.iter_mut().enumerate() {
            m.msg_hdr.msg_name = (&mut addrs[i] as *mut libc::sockaddr_storage).cast();
            m.msg_hdr.msg_namelen =
                std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            m.msg_hdr.msg_iov = &mut iovecs[i];
            m.msg_hdr.msg_iovlen = 1;
        }
        // SAFETY: every pointer refers to memory owned by this frame or by `self.buffers`,
        // alive for the call; lengths match the buffers.
        let n = unsafe {
            libc::recvmmsg(
                socket.as_raw_fd(),
                messages.as_mut_ptr(),
                BATCH as libc::c_uint,
                libc::MSG_WAITFORONE,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock
                | io::ErrorKind::TimedOut
                | io::ErrorKind::Interrupted => Ok(0),
                _ => Err(e),
            };
        }
        let n = n as usize;
        for i in 0..n {
            let len = (messages[i].msg_len as usize).min(DATAGRAM_BYTES);
            let from = socket_addr(&addrs[i]).unwrap_or_else(|| ([0, 0, 0, 0], 0).into());
            each(&self.buffers[i][..len], from);
        }
        Ok(n)
    }

    /// Portable fallback: one datagram per call.
    #[cfg(not(target_os = "linux"))]
    pub fn read(
        &mut self,
        socket: &UdpSocket,
        mut each: impl FnMut(&[u8], SocketAddr),
    ) -> io::Result<usize> {
        match socket.recv_from(&mut self.buffers[0]) {
            Ok((n, from)) => {
                each(&self.buffers[0][..n], from);
                Ok(1)
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) =>
            {
                Ok(0)
            }
            Err(e) => Err(e),
        }
    }
}

/// The address in a `sockaddr_storage` filled by the kernel.
#[cfg(target_os = "linux")]
fn socket_addr(storage: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match storage.ss_family as libc::c_int {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let a =
                unsafe { &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            let ip = std::net::Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
            Some((ip, u16::from_be(a.sin_port)).into())
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let a = unsafe {
                &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>()
            };
            let ip = std::net::Ipv6Addr::from(a.sin6_addr.s6_addr);
            Some(std::net::SocketAddr::V6(std::net::SocketAddrV6::new(
                ip,
                u16::from_be(a.sin6_port),
                a.sin6_flowinfo,
                a.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// Reads the kernel's drop counter of one socket.
pub struct DropCounter {
    inode: Option<u64>,
}

impl DropCounter {
    pub fn new(socket: &UdpSocket) -> DropCounter {
        DropCounter {
            inode: socket_inode(socket),
        }
    }

    /// Datagrams dropped so far on this socket, when the platform tells.
    pub fn read(&self) -> Option<u64> {
        let inode = self.inode?;
        ["/proc/net/udp", "/proc/net/udp6"]
            .iter()
            .find_map(|table| drops_in(&std::fs::read_to_string(table).ok()?, inode))
    }
}

#[cfg(target_os = "linux")]
fn socket_inode(socket: &UdpSocket) -> Option<u64> {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::MetadataExt;
    let path = format!("/proc/self/fd/{}", socket.as_raw_fd());
    std::fs::metadata(path).ok().map(|m| m.ino())
}

#[cfg(not(target_os = "linux"))]
fn socket_inode(_socket: &UdpSocket) -> Option<u64> {
    None
}

/// The `drops` column of the row whose `inode` column is `inode`.
fn drops_in(table: &str, inode: u64) -> Option<u64> {
    table.lines().skip(1).find_map(|line| {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.get(9)?.parse::<u64>().ok()? == inode {
            cols.get(12)?.parse().ok()
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_proc_table() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  1: 0100007F:07D0 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4242 2 0000000000000000 17
  2: 0100007F:07D1 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4243 2 0000000000000000 0";
        assert_eq!(drops_in(table, 4242), Some(17));
        assert_eq!(drops_in(table, 4243), Some(0));
        assert_eq!(drops_in(table, 1), None);
    }

    #[test]
    fn batches_carry_every_datagram_and_its_sender() {
        for local in ["127.0.0.1:0", "[::1]:0"] {
            let Ok(socket) = bind(local.parse().unwrap()) else {
                continue; // no IPv6 here
            };
            socket
                .set_read_timeout(Some(std::time::Duration::from_secs(30)))
                .unwrap();
            let addr = socket.local_addr().unwrap();
            let sender = UdpSocket::bind(if addr.is_ipv4() {
                "127.0.0.1:0"
            } else {
                "[::1]:0"
            })
            .unwrap();
            let sent: Vec<Vec<u8>> = (0..50u8).map(|i| vec![i; 1 + i as usize * 100]).collect();
            for d in &sent {
                sender.send_to(d, addr).unwrap();
            }
            let mut reader = BatchReader::default();
            let mut got = Vec::new();
            while got.len() < sent.len() {
                reader
                    .read(&socket, |d, from| {
                        assert_eq!(from, sender.local_addr().unwrap());
                        got.push(d.to_vec());
                    })
                    .unwrap();
            }
            assert_eq!(got, sent);
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn finds_its_own_socket() {
        let socket = bind("127.0.0.1:0".parse().unwrap()).unwrap();
        assert_eq!(DropCounter::new(&socket).read(), Some(0));
    }
}
