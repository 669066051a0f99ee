//! The UDP socket of the collector: a large receive buffer, and the kernel's count of
//! datagrams it dropped for want of buffer space (Linux `/proc/net/udp*`), so that loss under a
//! flood is reported instead of silent.

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

    #[cfg(target_os = "linux")]
    #[test]
    fn finds_its_own_socket() {
        let socket = bind("127.0.0.1:0".parse().unwrap()).unwrap();
        assert_eq!(DropCounter::new(&socket).read(), Some(0));
    }
}
