//! A minimal HTTP/1.1 client for the daemon's sampling proxy: one `POST` of a JSON body per
//! connection (`Connection: close`), over `std::net::TcpStream`.
//!
//! Every step is bounded: connecting, writing and reading share one deadline (`timeout`), so a
//! proxy that accepts and then hangs, or drips bytes, costs the poller thread at most that
//! long. Responses are read by `Content-Length`, chunked encoding, or to end of stream, up to
//! [`MAX_RESPONSE_BYTES`]. Only the poller thread calls this; requests never wait on it.

use std::fmt;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// Largest response accepted (headers + body).
pub const MAX_RESPONSE_BYTES: usize = 4 << 20;
const MAX_HEADER_BYTES: usize = 64 << 10;

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    /// Connecting, writing or reading failed (includes refused connections and timeouts).
    Io(String),
    /// The deadline passed.
    Timeout,
    /// The response was not HTTP/1.x we could read.
    Malformed(String),
    /// A status other than 2xx, with the start of the body.
    Status(u16, String),
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::Io(e) => write!(f, "{e}"),
            HttpError::Timeout => write!(f, "no complete answer within the timeout"),
            HttpError::Malformed(e) => write!(f, "unreadable HTTP response: {e}"),
            HttpError::Status(code, body) => write!(f, "HTTP status {code}: {body}"),
        }
    }
}

/// POSTs `body` (JSON) to `path` at `addr` and returns the response body of a 2xx answer.
pub fn post_json(
    addr: SocketAddr,
    path: &str,
    body: &[u8],
    timeout: Duration,
) -> Result<Vec<u8>, HttpError> {
    let deadline = Instant::now() + timeout;
    let remaining = || {
        deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or(HttpError::Timeout)
    };
    let io = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => HttpError::Timeout,
        _ => HttpError::Io(format!("{e}")),
    };
    let mut stream = TcpStream::connect_timeout(&addr, remaining()?).map_err(io)?;
    let _ = stream.set_nodelay(true);
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: oxray/{}\r\n\
         Content-Type: application/json\r\nAccept: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        env!("CARGO_PKG_VERSION"),
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    stream.set_write_timeout(Some(remaining()?)).map_err(io)?;
    stream.write_all(&request).map_err(io)?;

    let mut reader = Reader {
        stream,
        buf: Vec::new(),
        pos: 0,
        eof: false,
    };
    let mut fill = |r: &mut Reader| -> Result<bool, HttpError> {
        r.stream.set_read_timeout(Some(remaining()?)).map_err(io)?;
        r.fill()
    };
    // Status line and headers.
    let head_end = loop {
        if let Some(i) = find(&reader.buf, b"\r\n\r\n") {
            break i;
        }
        if reader.buf.len() > MAX_HEADER_BYTES {
            return Err(HttpError::Malformed("headers too long".into()));
        }
        if !fill(&mut reader)? {
            return Err(HttpError::Malformed(if reader.buf.is_empty() {
                "the connection closed without an answer".into()
            } else {
                "the connection closed inside the headers".into()
            }));
        }
    };
    let head = String::from_utf8_lossy(&reader.buf[..head_end]).into_owned();
    reader.pos = head_end + 4;
    let mut lines = head.split("\r\n");
    let status = parse_status(lines.next().unwrap_or(""))?;
    let mut length = None;
    let mut chunked = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            return Err(HttpError::Malformed(format!("bad header line {line:?}")));
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(
                value
                    .parse::<usize>()
                    .map_err(|_| HttpError::Malformed(format!("bad Content-Length {value:?}")))?,
            );
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().contains("chunked");
        }
    }
    let body = if chunked {
        read_chunked(&mut reader, &mut fill)?
    } else if let Some(n) = length {
        if n > MAX_RESPONSE_BYTES {
            return Err(HttpError::Malformed(format!(
                "body of {n} bytes is too large"
            )));
        }
        reader.take_exact(n, &mut fill)?
    } else {
        while fill(&mut reader)? {}
        reader.buf.split_off(reader.pos)
    };
    if !(200..300).contains(&status) {
        let text = String::from_utf8_lossy(&body);
        let snippet: String = text.chars().take(200).collect();
        return Err(HttpError::Status(status, snippet));
    }
    Ok(body)
}

struct Reader {
    stream: TcpStream,
    buf: Vec<u8>,
    pos: usize,
    eof: bool,
}

impl Reader {
    /// Reads more bytes; false at end of stream.
    fn fill(&mut self) -> Result<bool, HttpError> {
        if self.eof {
            return Ok(false);
        }
        if self.buf.len() >= MAX_RESPONSE_BYTES {
            return Err(HttpError::Malformed("response too large".into()));
        }
        let mut chunk = [0u8; 8192];
        match self.stream.read(&mut chunk) {
            Ok(0) => {
                self.eof = true;
                Ok(false)
            }
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(true)
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => Ok(true),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                Err(HttpError::Timeout)
            }
            Err(e) => Err(HttpError::Io(e.to_string())),
        }
    }

    fn take_exact(
        &mut self,
        n: usize,
        fill: &mut impl FnMut(&mut Reader) -> Result<bool, HttpError>,
    ) -> Result<Vec<u8>, HttpError> {
        while self.buf.len() - self.pos < n {
            if !fill(self)? {
                return Err(HttpError::Malformed(
                    "the connection closed inside the body".into(),
                ));
            }
        }
        let out = self.buf[self.pos..self.pos + n].to_vec();
        self.pos += n;
        Ok(out)
    }

    fn take_line(
        &mut self,
        fill: &mut impl FnMut(&mut Reader) -> Result<bool, HttpError>,
    ) -> Result<String, HttpError> {
        loop {
            if let Some(i) = find(&self.buf[self.pos..], b"\r\n") {
                let line = String::from_utf8_lossy(&self.buf[self.pos..self.pos + i]).into_owned();
                self.pos += i + 2;
                return Ok(line);
            }
            if !fill(self)? {
                return Err(HttpError::Malformed(
                    "the connection closed inside a chunk".into(),
                ));
            }
        }
    }
}

fn read_chunked(
    reader: &mut Reader,
    fill: &mut impl FnMut(&mut Reader) -> Result<bool, HttpError>,
) -> Result<Vec<u8>, HttpError> {
    let mut body = Vec::new();
    loop {
        let line = reader.take_line(fill)?;
        let size_text = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| HttpError::Malformed(format!("bad chunk size {line:?}")))?;
        if size == 0 {
            return Ok(body);
        }
        if body.len() + size > MAX_RESPONSE_BYTES {
            return Err(HttpError::Malformed("response too large".into()));
        }
        body.extend(reader.take_exact(size, fill)?);
        if !reader.take_line(fill)?.is_empty() {
            return Err(HttpError::Malformed("chunk not followed by CRLF".into()));
        }
    }
}

fn parse_status(line: &str) -> Result<u16, HttpError> {
    let mut parts = line.splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    let code = parts.next().unwrap_or("");
    if !version.starts_with("HTTP/1.") {
        let shown: String = line.chars().take(60).collect();
        return Err(HttpError::Malformed(format!("bad status line {shown:?}")));
    }
    code.parse::<u16>()
        .ok()
        .filter(|c| (100..600).contains(c))
        .ok_or_else(|| HttpError::Malformed(format!("bad status code {code:?}")))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// Serves one connection with `answer` and returns the request it read.
    fn serve_once(answer: &'static [u8]) -> (SocketAddr, std::thread::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let handle = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            while !String::from_utf8_lossy(&buf).contains("\r\n\r\n{}") {
                let n = s.read(&mut chunk).unwrap();
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            s.write_all(answer).unwrap();
            String::from_utf8(buf).unwrap()
        });
        (addr, handle)
    }

    const T: Duration = Duration::from_secs(30);

    #[test]
    fn content_length_body() {
        let (addr, h) = serve_once(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}");
        assert_eq!(
            post_json(addr, "/GetSamplingRules", b"{}", T).unwrap(),
            b"{}"
        );
        let req = h.join().unwrap();
        assert!(
            req.starts_with("POST /GetSamplingRules HTTP/1.1\r\n"),
            "{req}"
        );
        assert!(req.contains("Content-Type: application/json\r\n"));
        assert!(req.contains("Content-Length: 2\r\n"));
    }

    #[test]
    fn chunked_and_close_delimited_bodies() {
        let (addr, _h) = serve_once(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"a\r\n4;x=y\r\n\":1}\r\n0\r\n\r\n",
        );
        assert_eq!(post_json(addr, "/x", b"{}", T).unwrap(), b"{\"a\":1}");
        let (addr, _h) = serve_once(b"HTTP/1.0 200 OK\r\n\r\n[1]");
        assert_eq!(post_json(addr, "/x", b"{}", T).unwrap(), b"[1]");
    }

    #[test]
    fn errors() {
        let (addr, _h) = serve_once(b"HTTP/1.1 500 Internal\r\nContent-Length: 4\r\n\r\noops");
        assert_eq!(
            post_json(addr, "/x", b"{}", T),
            Err(HttpError::Status(500, "oops".into()))
        );
        let (addr, _h) = serve_once(b"garbage\r\n\r\n");
        assert!(matches!(
            post_json(addr, "/x", b"{}", T),
            Err(HttpError::Malformed(_))
        ));
        let (addr, _h) = serve_once(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort");
        assert!(matches!(
            post_json(addr, "/x", b"{}", T),
            Err(HttpError::Malformed(_))
        ));
        let closed = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        assert!(matches!(
            post_json(closed, "/x", b"{}", T),
            Err(HttpError::Io(_))
        ));
    }
}
