//! Reading an incoming HTTP request's headers the same way in every server-mode binding.

/// The host name without its port (`example.com:8080` → `example.com`, `[::1]:80` → `::1`).
pub fn host_name(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

/// The first address of an `X-Forwarded-For` list: the client, as the first proxy saw it.
pub fn first_forwarded(value: &str) -> Option<&str> {
    let first = value.split(',').next()?.trim();
    (!first.is_empty()).then_some(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_lose_their_port() {
        assert_eq!(host_name("example.com:8080"), "example.com");
        assert_eq!(host_name("example.com"), "example.com");
        assert_eq!(host_name("[::1]:80"), "::1");
        assert_eq!(host_name("[::1]"), "::1");
        assert_eq!(host_name("weird:port"), "weird:port");
        assert_eq!(host_name(""), "");
    }

    #[test]
    fn the_first_forwarded_address_is_the_client() {
        assert_eq!(
            first_forwarded(" 203.0.113.7 , 10.0.0.1"),
            Some("203.0.113.7")
        );
        assert_eq!(first_forwarded(" , 10.0.0.1"), None);
        assert_eq!(first_forwarded(""), None);
    }
}
