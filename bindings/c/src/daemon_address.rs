//! `AWS_XRAY_DAEMON_ADDRESS` parsing, exposed for callers that validate their configuration.

use std::ffi::c_char;

use oxray_core::DaemonAddress;

use crate::cstr;
use crate::error::Failure;
use crate::status::{oxray_status, OXRAY_INVALID_ADDRESS};

/// Size of the address fields of `oxray_daemon_address`, NUL included.
pub const OXRAY_SOCKET_ADDRESS_SIZE: usize = 64;

/// A parsed daemon address: where documents (UDP) and sampling requests (TCP) go.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct oxray_daemon_address {
    /// `ip:port` (IPv6 as `[ip]:port`).
    pub udp: [c_char; OXRAY_SOCKET_ADDRESS_SIZE],
    pub tcp: [c_char; OXRAY_SOCKET_ADDRESS_SIZE],
}

/// Parses a daemon address as `AWS_XRAY_DAEMON_ADDRESS` takes it: `host:port`, or
/// `tcp:host:port udp:host:port` in either order. Host names are resolved (IPv4). On failure
/// (`OXRAY_INVALID_ADDRESS`) both fields of `*out` are empty.
///
/// # Safety
/// `text` must be NULL or a NUL-terminated string; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn oxray_daemon_address_parse(
    text: *const c_char,
    out: *mut oxray_daemon_address,
) -> oxray_status {
    firewall!({
        let mut address = oxray_daemon_address {
            udp: [0; OXRAY_SOCKET_ADDRESS_SIZE],
            tcp: [0; OXRAY_SOCKET_ADDRESS_SIZE],
        };
        // SAFETY: forwarded from this function's contract.
        unsafe { cstr::store(out, address, "out")? };
        // SAFETY: as above.
        let text = unsafe { cstr::required(text, "text") }?;
        let parsed = DaemonAddress::parse(text)
            .map_err(|e| Failure::new(OXRAY_INVALID_ADDRESS, e.to_string()))?;
        cstr::fill(&mut address.udp, &parsed.udp.to_string());
        cstr::fill(&mut address.tcp, &parsed.tcp.to_string());
        // SAFETY: out is writable (checked above).
        unsafe { out.write(address) };
        Ok(())
    })
}
