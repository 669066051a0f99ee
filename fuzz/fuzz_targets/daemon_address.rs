//! `AWS_XRAY_DAEMON_ADDRESS`: never panics, and an accepted address, written back as
//! `tcp:… udp:…` (and as one `host:port` when both are equal), parses to the same address.
//! Host names go to a resolver that answers without DNS, so the fuzzer stays fast and offline.
#![no_main]

use std::net::SocketAddr;

use libfuzzer_sys::fuzz_target;
use oxray_core::config::DaemonAddress;

/// Resolves every name to a loopback address, except names of odd length, which fail: both
/// outcomes of a lookup are exercised.
fn offline(host: &str, port: u16) -> Result<SocketAddr, String> {
    if host.len() % 2 == 1 {
        return Err(format!("{host} does not resolve"));
    }
    Ok(SocketAddr::from(([127, 0, 0, 2], port)))
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let address = match DaemonAddress::parse_with(text, &offline) {
        Ok(a) => a,
        Err(e) => {
            assert!(!e.reason.is_empty());
            let _ = e.to_string();
            return;
        }
    };
    assert_ne!(address.udp.port(), 0);
    assert_ne!(address.tcp.port(), 0);
    let pair = format!("tcp:{} udp:{}", address.tcp, address.udp);
    let again = DaemonAddress::parse_with(&pair, &offline)
        .unwrap_or_else(|e| panic!("{text:?} written as {pair:?} fails: {e}"));
    assert_eq!(again, address, "{text:?} -> {pair:?}");
    if address.tcp == address.udp {
        let single = address.udp.to_string();
        let again = DaemonAddress::parse_with(&single, &offline)
            .unwrap_or_else(|e| panic!("{text:?} written as {single:?} fails: {e}"));
        assert_eq!(again, address);
    }
});
