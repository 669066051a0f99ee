//! Configuration, and every environment variable the core reads, in one place.
//!
//! | variable | effect |
//! |---|---|
//! | `AWS_XRAY_DAEMON_ADDRESS` | `host:port` or `tcp:h:p udp:h:p` (either order); invalid → logged, default kept |
//! | `AWS_XRAY_CONTEXT_MISSING` | `LOG_ERROR` (default), `IGNORE_ERROR`, `RUNTIME_ERROR` |
//! | `AWS_XRAY_SDK_ENABLED` | `false`/`no`/`n`/`f`/`off`/`0` disables tracing |
//! | `AWS_XRAY_TRACING_NAME` | default segment name (server mode) |
//! | `LAMBDA_TASK_ROOT` | present → Lambda mode |
//! | `AWS_LAMBDA_FUNCTION_NAME` | function name, default segment name in Lambda |
//! | `_X_AMZN_TRACE_ID` | per-invocation trace header, read by [`crate::lambda`] |
//! | `AWS_XRAY_SAMPLING_RULES` | local sampling rules: a rule file path, or the JSON itself; invalid → logged, SDK default rules kept |
//! | `AWS_XRAY_CENTRALIZED_SAMPLING` | `true`/`yes`/`1`/`on` → centralized sampling through the daemon's TCP proxy (not in Lambda) |

use std::fmt;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

use crate::TraceError;

/// The daemon's UDP (documents) and TCP (sampling proxy) addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DaemonAddress {
    pub udp: SocketAddr,
    pub tcp: SocketAddr,
}

impl Default for DaemonAddress {
    fn default() -> Self {
        let addr: SocketAddr = ([127, 0, 0, 1], 2000).into();
        DaemonAddress {
            udp: addr,
            tcp: addr,
        }
    }
}

/// Why a daemon address was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressError {
    pub input: String,
    pub reason: String,
}

impl fmt::Display for AddressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid daemon address {:?}: {}; expected \"host:port\" or \"tcp:host:port udp:host:port\"",
            self.input, self.reason
        )
    }
}

impl std::error::Error for AddressError {}

impl DaemonAddress {
    /// Parses `host:port`, or `tcp:host:port udp:host:port` in either order.
    pub fn parse(input: &str) -> Result<DaemonAddress, AddressError> {
        DaemonAddress::parse_with(input, &resolve)
    }

    /// [`DaemonAddress::parse`] with host names resolved by `resolve` (the fuzz target passes
    /// one that never touches DNS).
    #[doc(hidden)]
    pub fn parse_with(input: &str, resolve: &Resolver) -> Result<DaemonAddress, AddressError> {
        let err = |reason: &str| AddressError {
            input: input.to_string(),
            reason: reason.to_string(),
        };
        let parts: Vec<&str> = input.split_whitespace().collect();
        match parts.as_slice() {
            [] => Err(err("it is empty")),
            [single] => {
                if single.starts_with("tcp:") || single.starts_with("udp:") {
                    return Err(err("both tcp: and udp: addresses are needed"));
                }
                let addr = parse_host_port(single, resolve).map_err(|r| err(&r))?;
                Ok(DaemonAddress {
                    udp: addr,
                    tcp: addr,
                })
            }
            [a, b] => {
                let mut udp = None;
                let mut tcp = None;
                for part in [a, b] {
                    if let Some(rest) = part.strip_prefix("udp:") {
                        if udp.is_some() {
                            return Err(err("udp: is given twice"));
                        }
                        udp = Some(parse_host_port(rest, resolve).map_err(|r| err(&r))?);
                    } else if let Some(rest) = part.strip_prefix("tcp:") {
                        if tcp.is_some() {
                            return Err(err("tcp: is given twice"));
                        }
                        tcp = Some(parse_host_port(rest, resolve).map_err(|r| err(&r))?);
                    } else {
                        return Err(err(&format!(
                            "{part:?} must start with tcp: or udp: when two addresses are given"
                        )));
                    }
                }
                match (udp, tcp) {
                    (Some(udp), Some(tcp)) => Ok(DaemonAddress { udp, tcp }),
                    _ => Err(err("both tcp: and udp: addresses are needed")),
                }
            }
            _ => Err(err("more than two addresses")),
        }
    }
}

/// Resolves a host name (already checked to be `[A-Za-z0-9._-]+`) and port to one address.
#[doc(hidden)]
pub type Resolver = dyn Fn(&str, u16) -> Result<SocketAddr, String>;

/// `host:port`, where host is an IPv4 address, a host name, or an IPv6 address in brackets
/// (or bare: the last `:` separates the port).
fn parse_host_port(text: &str, resolve: &Resolver) -> Result<SocketAddr, String> {
    let (host, port) = text
        .rsplit_once(':')
        .ok_or_else(|| format!("{text:?} has no port"))?;
    // Digits only: `parse` would take a leading `+`.
    let port: u16 = Some(port)
        .filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| format!("port {port:?} is not a number from 1 to 65535"))?;
    if port == 0 {
        return Err("port 0 is not allowed".to_string());
    }
    if host.is_empty() {
        return Err(format!("{text:?} has no host"));
    }
    if let Some(inner) = host.strip_prefix('[') {
        return match inner
            .strip_suffix(']')
            .map(str::parse::<std::net::Ipv6Addr>)
        {
            Some(Ok(ip)) => Ok(SocketAddr::new(IpAddr::V6(ip), port)),
            _ => Err(format!("host {host:?} is not an IPv6 address in brackets")),
        };
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    // Underscores too: container and compose service names (`xray_daemon`) have them.
    if !host
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_')
    {
        return Err(format!("host {host:?} is not a valid host name"));
    }
    resolve(host, port)
}

fn resolve(host: &str, port: u16) -> Result<SocketAddr, String> {
    (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("host {host:?} cannot be resolved: {e}"))?
        .find(|a| a.is_ipv4())
        .ok_or_else(|| format!("host {host:?} has no IPv4 address"))
}

/// What to do when code asks for the current entity and there is none
/// (`AWS_XRAY_CONTEXT_MISSING`). Only `RuntimeError` lets tracing raise into user code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ContextMissing {
    #[default]
    LogError,
    IgnoreError,
    RuntimeError,
}

impl ContextMissing {
    pub fn parse(s: &str) -> Option<ContextMissing> {
        match s.trim().to_ascii_uppercase().as_str() {
            "LOG_ERROR" => Some(ContextMissing::LogError),
            "IGNORE_ERROR" => Some(ContextMissing::IgnoreError),
            "RUNTIME_ERROR" => Some(ContextMissing::RuntimeError),
            _ => None,
        }
    }
}

/// How documents leave the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmitMode {
    /// A bounded queue and a sender thread (default): the caller never waits on a socket.
    Background,
    /// `send()` on the caller's thread.
    Udp,
    /// Kept in memory, for tests (see [`crate::Recorder::take_documents`]).
    Memory,
}

/// Everything a [`crate::Recorder`] needs to know.
#[derive(Debug, Clone)]
pub struct Config {
    pub enabled: bool,
    pub daemon: DaemonAddress,
    pub context_missing: ContextMissing,
    pub emit_mode: EmitMode,
    /// Most documents waiting in the background queue; more are dropped and counted.
    pub queue_capacity: usize,
    /// Closed children embedded in one open parent before they are streamed on their own.
    pub max_embedded_children: usize,
    /// Bytes of closed children embedded in one open parent before they are streamed.
    pub max_embedded_bytes: usize,
    /// `AWS_XRAY_TRACING_NAME`.
    pub tracing_name: Option<String>,
    /// Running in Lambda (`LAMBDA_TASK_ROOT` set).
    pub lambda: bool,
    /// `AWS_LAMBDA_FUNCTION_NAME`.
    pub function_name: Option<String>,
    /// `aws.xray.sdk` on segments, e.g. "oxray for Python".
    pub sdk_name: String,
    pub sdk_version: String,
    /// `origin` on segments, e.g. `AWS::EC2::Instance`.
    pub origin: Option<String>,
    /// A fixed probability that a new trace (no decision upstream) is sampled, instead of
    /// sampling rules. None (the default): rules decide (see [`crate::sampling::setup`]).
    pub sample_rate: Option<f64>,
    /// Local sampling rules: a rule file path or the JSON text (`AWS_XRAY_SAMPLING_RULES`).
    /// None: the SDKs' default rules (1 per second, then 5%). Wins over `sample_rate`.
    pub sampling_rules: Option<String>,
    /// Sample by the X-Ray service's rules, fetched through the daemon's TCP proxy, with the
    /// local rules as fallback (`AWS_XRAY_CENTRALIZED_SAMPLING`). Ignored in Lambda.
    pub centralized_sampling: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            enabled: true,
            daemon: DaemonAddress::default(),
            context_missing: ContextMissing::default(),
            emit_mode: EmitMode::Background,
            queue_capacity: 16_384,
            max_embedded_children: 100,
            max_embedded_bytes: crate::MAX_DOCUMENT_BYTES / 2,
            tracing_name: None,
            lambda: false,
            function_name: None,
            sdk_name: "oxray".to_string(),
            sdk_version: env!("CARGO_PKG_VERSION").to_string(),
            origin: None,
            sample_rate: None,
            sampling_rules: None,
            centralized_sampling: false,
        }
    }
}

fn is_falsey(v: &str) -> bool {
    matches!(
        v.trim().to_ascii_lowercase().as_str(),
        "false" | "no" | "n" | "f" | "off" | "0"
    )
}

fn is_truthy(v: &str) -> bool {
    matches!(
        v.trim().to_ascii_lowercase().as_str(),
        "true" | "yes" | "y" | "t" | "on" | "1"
    )
}

/// An environment variable as text, non-UTF-8 bytes replaced by U+FFFD.
fn env_text(name: &str) -> Option<String> {
    std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
}

impl Config {
    /// Reads the process environment (see the module table). Bad values are logged and the
    /// defaults kept: configuration never fails. A value that is not UTF-8 is read with
    /// replacement characters, so it is refused and logged like any other bad value (or, for
    /// a presence check such as `LAMBDA_TASK_ROOT`, still counts as set) rather than being
    /// taken for an unset variable.
    pub fn from_env() -> Config {
        Self::from_lookup(env_text)
    }

    /// Like [`Config::from_env`], reading variables through `lookup` (for tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Config {
        let mut c = Config::default();
        if let Some(addr) = lookup("AWS_XRAY_DAEMON_ADDRESS") {
            match DaemonAddress::parse(&addr) {
                Ok(d) => c.daemon = d,
                Err(e) => crate::diag::error(&format!(
                    "AWS_XRAY_DAEMON_ADDRESS: {e}; using the default 127.0.0.1:2000"
                )),
            }
        }
        if let Some(v) = lookup("AWS_XRAY_CONTEXT_MISSING") {
            match ContextMissing::parse(&v) {
                Some(cm) => c.context_missing = cm,
                None => crate::diag::warn(&format!(
                    "AWS_XRAY_CONTEXT_MISSING={v:?} is not LOG_ERROR, IGNORE_ERROR or RUNTIME_ERROR; using LOG_ERROR"
                )),
            }
        }
        if let Some(v) = lookup("AWS_XRAY_SDK_ENABLED") {
            c.enabled = !is_falsey(&v);
        }
        c.tracing_name = lookup("AWS_XRAY_TRACING_NAME").filter(|s| !s.is_empty());
        c.lambda = lookup("LAMBDA_TASK_ROOT").is_some();
        c.function_name = lookup("AWS_LAMBDA_FUNCTION_NAME").filter(|s| !s.is_empty());
        if let Some(source) = lookup("AWS_XRAY_SAMPLING_RULES").filter(|s| !s.trim().is_empty()) {
            match crate::sampling::LocalRules::from_source(&source) {
                Ok(_) => c.sampling_rules = Some(source),
                Err(e) => crate::diag::error(&format!(
                    "AWS_XRAY_SAMPLING_RULES: {e}; using the default rules (1 per second, then 5%)"
                )),
            }
        }
        if let Some(v) = lookup("AWS_XRAY_CENTRALIZED_SAMPLING") {
            c.centralized_sampling = is_truthy(&v);
        }
        c
    }

    /// Applies settings from a JSON object (the C ABI's configuration). Known keys:
    /// `enabled`, `daemon_address`, `context_missing`, `emit_mode` (`background`|`udp`|`memory`),
    /// `queue_capacity`, `max_embedded_children`, `max_embedded_bytes`, `tracing_name`, `lambda`,
    /// `function_name`, `sdk_name`, `sdk_version`, `origin`, `sample_rate` (0..1, or null for
    /// rules), `sampling_rules` (a rule file path, the rules' JSON text, or the rules as an
    /// object; validated now), `centralized_sampling` (bool). An unknown key or a wrong type
    /// is an error naming the key; nothing is applied then.
    pub fn apply_json(&mut self, text: &str) -> Result<(), TraceError> {
        let value: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| TraceError::InvalidArgument(format!("config is not JSON: {e}")))?;
        let obj = value
            .as_object()
            .ok_or_else(|| TraceError::InvalidArgument("config must be a JSON object".into()))?;
        let mut next = self.clone();
        for (key, v) in obj {
            let bad =
                |what: &str| TraceError::InvalidArgument(format!("config key {key:?}: {what}"));
            let string = || {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| bad("expected a string"))
            };
            let boolean = || v.as_bool().ok_or_else(|| bad("expected true or false"));
            let count = || {
                v.as_u64()
                    .filter(|n| *n > 0)
                    .map(|n| n as usize)
                    .ok_or_else(|| bad("expected a positive integer"))
            };
            match key.as_str() {
                "enabled" => next.enabled = boolean()?,
                "daemon_address" => {
                    next.daemon =
                        DaemonAddress::parse(&string()?).map_err(|e| bad(&e.to_string()))?
                }
                "context_missing" => {
                    next.context_missing = ContextMissing::parse(&string()?)
                        .ok_or_else(|| bad("expected LOG_ERROR, IGNORE_ERROR or RUNTIME_ERROR"))?
                }
                "emit_mode" => {
                    next.emit_mode = match string()?.as_str() {
                        "background" => EmitMode::Background,
                        "udp" => EmitMode::Udp,
                        "memory" => EmitMode::Memory,
                        _ => return Err(bad("expected background, udp or memory")),
                    }
                }
                "queue_capacity" => next.queue_capacity = count()?,
                "max_embedded_children" => next.max_embedded_children = count()?,
                "max_embedded_bytes" => next.max_embedded_bytes = count()?,
                "tracing_name" => next.tracing_name = Some(string()?),
                "lambda" => next.lambda = boolean()?,
                "function_name" => next.function_name = Some(string()?),
                "sdk_name" => next.sdk_name = string()?,
                "sdk_version" => next.sdk_version = string()?,
                "origin" => next.origin = Some(string()?),
                "sample_rate" if v.is_null() => next.sample_rate = None,
                "sample_rate" => {
                    next.sample_rate = Some(
                        v.as_f64()
                            .filter(|r| (0.0..=1.0).contains(r))
                            .ok_or_else(|| bad("expected a number from 0 to 1"))?,
                    )
                }
                "sampling_rules" => {
                    let source = match v {
                        serde_json::Value::Null => None,
                        serde_json::Value::String(s) => Some(s.clone()),
                        serde_json::Value::Object(_) => Some(v.to_string()),
                        _ => return Err(bad("expected a file path, JSON text or an object")),
                    };
                    if let Some(source) = &source {
                        crate::sampling::LocalRules::from_source(source)
                            .map_err(|e| bad(&e.to_string()))?;
                    }
                    next.sampling_rules = source;
                }
                "centralized_sampling" => next.centralized_sampling = boolean()?,
                _ => return Err(bad("unknown key")),
            }
        }
        *self = next;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daemon_addresses() {
        let d = DaemonAddress::parse("127.0.0.1:3000").unwrap();
        assert_eq!(d.udp.port(), 3000);
        assert_eq!(d.tcp.port(), 3000);
        let d = DaemonAddress::parse("udp:127.0.0.1:2001 tcp:127.0.0.2:2002").unwrap();
        assert_eq!(d.udp.to_string(), "127.0.0.1:2001");
        assert_eq!(d.tcp.to_string(), "127.0.0.2:2002");
        for bad in [
            "",
            "127.0.0.1",
            "127.0.0.1:x",
            "tcp:127.0.0.1:2000",
            "a:1 b:2",
            "a:1 b:2 c:3",
            ":2000",
            "127.0.0.1:0",
        ] {
            assert!(DaemonAddress::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn host_names_with_underscores_are_resolved_and_brackets_hold_only_ipv6() {
        let resolved = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let asked = std::rc::Rc::clone(&resolved);
        let resolve = move |host: &str, port: u16| {
            asked.borrow_mut().push(host.to_string());
            Ok(SocketAddr::from(([10, 0, 0, 7], port)))
        };
        let d = DaemonAddress::parse_with("xray_daemon:2000", &resolve).unwrap();
        assert_eq!(d.udp.to_string(), "10.0.0.7:2000");
        assert_eq!(*resolved.borrow(), ["xray_daemon"]);
        let d = DaemonAddress::parse_with("[::1]:2000", &resolve).unwrap();
        assert_eq!(d.udp.to_string(), "[::1]:2000");
        for bad in [
            "[[::1]]:2000",
            "[127.0.0.1]:2000",
            "[::1:2000",
            "::1]:2000",
            "127.0.0.1:+2000",
            ":+2000",
            "host name:2000",
        ] {
            assert!(DaemonAddress::parse_with(bad, &resolve).is_err(), "{bad}");
        }
        assert_eq!(resolved.borrow().len(), 1, "{:?}", resolved.borrow());
    }

    #[test]
    fn invalid_env_keeps_defaults() {
        let c = Config::from_lookup(|k| match k {
            "AWS_XRAY_DAEMON_ADDRESS" => Some("garbage".into()),
            "AWS_XRAY_CONTEXT_MISSING" => Some("nope".into()),
            _ => None,
        });
        assert_eq!(c.daemon, DaemonAddress::default());
        assert_eq!(c.context_missing, ContextMissing::LogError);
    }

    #[test]
    fn json_config() {
        let mut c = Config::default();
        c.apply_json(r#"{"emit_mode":"memory","daemon_address":"127.0.0.1:9"}"#)
            .unwrap();
        assert_eq!(c.emit_mode, EmitMode::Memory);
        let err = c.apply_json(r#"{"bogus":1}"#).unwrap_err();
        assert!(err.to_string().contains("bogus"));
        assert!(c.apply_json(r#"{"queue_capacity":"x"}"#).is_err());
        assert!(c.apply_json("[").is_err());
    }

    #[test]
    fn sampling_config() {
        let mut c = Config::default();
        assert_eq!(c.sample_rate, None);
        c.apply_json(
            r#"{"sample_rate":0.5,"centralized_sampling":true,
                "sampling_rules":{"version":2,"default":{"fixed_target":0,"rate":0.1}}}"#,
        )
        .unwrap();
        assert_eq!(c.sample_rate, Some(0.5));
        assert!(c.centralized_sampling);
        assert!(c
            .sampling_rules
            .as_deref()
            .unwrap()
            .contains("fixed_target"));
        let err = c
            .apply_json(r#"{"sampling_rules":"{\"version\":2,\"default\":{\"fixed_target\":0,\"rate\":7}}"}"#)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("sampling_rules") && err.contains("default.rate"),
            "{err}"
        );
        assert!(
            c.sampling_rules.as_deref().unwrap().contains("0.1"),
            "unchanged"
        );
        c.apply_json(r#"{"sample_rate":null,"sampling_rules":null}"#)
            .unwrap();
        assert_eq!((c.sample_rate, c.sampling_rules.clone()), (None, None));

        let env = Config::from_lookup(|k| match k {
            "AWS_XRAY_SAMPLING_RULES" => {
                Some(r#"{"version":1,"default":{"fixed_target":2,"rate":0}}"#.into())
            }
            "AWS_XRAY_CENTRALIZED_SAMPLING" => Some("true".into()),
            _ => None,
        });
        assert!(env.sampling_rules.is_some() && env.centralized_sampling);
        let bad = Config::from_lookup(|k| match k {
            "AWS_XRAY_SAMPLING_RULES" => Some("{\"version\":9}".into()),
            _ => None,
        });
        assert_eq!(bad.sampling_rules, None);
    }

    #[test]
    fn a_non_utf8_variable_is_read_lossily_not_ignored() {
        use std::os::unix::ffi::OsStrExt;
        let name = "OXRAY_TEST_NON_UTF8_VARIABLE";
        std::env::set_var(name, std::ffi::OsStr::from_bytes(b"\xff:2000"));
        assert_eq!(env_text(name).as_deref(), Some("\u{fffd}:2000"));
        std::env::remove_var(name);
        assert_eq!(env_text(name), None);
        // Such an address is refused like any other bad one: the default stays.
        let c = Config::from_lookup(|k| {
            (k == "AWS_XRAY_DAEMON_ADDRESS").then(|| "\u{fffd}:2000".into())
        });
        assert_eq!(c.daemon, Config::default().daemon);
    }
}
