//! HTTP/1.x messages (RFC 9112): a request's or a response's start line and the header
//! fields the HTTP columns hold, read from a TCP payload that starts with the message.
//!
//! A message is recognised by its start line (`METHOD SP target SP HTTP/1.x CRLF`, or
//! `HTTP/1.x SP 3DIGIT ...`), not by port. Its fields belong to the segment that completes
//! it, as tshark attributes a reassembled message (headers and body): so a message is read
//! only when its segment holds all of it (the header block, and a body whose end is known:
//! none, `Content-Length` bytes, or chunks up to the last); otherwise `None`.

pub use super::Progress;

/// The most bytes of start line and header fields read.
pub const MAX_HEAD: usize = 16 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message<'a> {
    pub method: Option<&'a [u8]>,
    pub uri: Option<&'a [u8]>,
    pub status: Option<u16>,
    pub host: Option<&'a [u8]>,
    pub user_agent: Option<&'a [u8]>,
    pub content_type: Option<&'a [u8]>,
}

fn version_ok(v: &[u8]) -> bool {
    v == b"HTTP/1.1" || v == b"HTTP/1.0"
}

fn is_method_char(b: u8) -> bool {
    b.is_ascii_uppercase() || b == b'-' || b == b'_'
}

/// Whether `payload` may start with a start line: checked on the first bytes, before any
/// search for the line's end (most TCP payloads are not HTTP, and are rejected here).
fn may_start_message(payload: &[u8]) -> bool {
    if payload.starts_with(b"HTTP/1.") {
        return true;
    }
    let method_len = payload
        .iter()
        .take(21)
        .take_while(|&&b| is_method_char(b))
        .count();
    (1..=20).contains(&method_len) && payload.get(method_len) == Some(&b' ')
}

/// How a message's body ends (RFC 9112 6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    None,
    Length(u64),
    Chunked,
    /// A response without a length runs to the connection's close.
    ToClose,
}

/// A message's start line and header fields, read whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head<'a> {
    pub message: Message<'a>,
    /// Bytes of start line and header fields, through the empty line.
    pub len: usize,
    /// How the body ends, by the header fields alone (a response to HEAD has none, whatever
    /// they say: the caller knows the request).
    pub body: Body,
    pub request: bool,
}

/// The message at the start of `payload`, if it is one and the payload holds it whole.
/// `datagram`: the payload is a UDP datagram (SSDP's HTTP over UDP), whose end is the
/// message's end whatever its header fields say.
pub fn parse(payload: &[u8], datagram: bool) -> Option<Message<'_>> {
    let Progress::Done(head) = parse_head(payload) else {
        return None;
    };
    if datagram {
        return Some(head.message);
    }
    let body = &payload[head.len..];
    let whole = match head.body {
        Body::None => true,
        Body::Length(n) => body.len() as u64 >= n,
        Body::Chunked => matches!(Chunks::default().feed(body), Ok(Some(_))),
        Body::ToClose => false,
    };
    whole.then_some(head.message)
}

/// The start line and header fields at the start of `payload`: `Incomplete` while what is
/// there may still become one (within `MAX_HEAD` bytes).
pub fn parse_head(payload: &[u8]) -> Progress<Head<'_>> {
    use Progress::{Done, Incomplete, Invalid};
    let head = &payload[..payload.len().min(MAX_HEAD)];
    // More bytes are needed, or never will do: the head is at most `MAX_HEAD` bytes.
    let more = if head.len() < MAX_HEAD {
        Incomplete
    } else {
        Invalid
    };
    if !may_start_message(payload) {
        return if may_become_start(payload) {
            Incomplete
        } else {
            Invalid
        };
    }
    let Some(line_end) = find(head, b"\r\n") else {
        return more;
    };
    let line = &head[..line_end];
    let mut msg = Message::default();
    let mut parts = line.splitn(3, |&b| b == b' ');
    let (Some(first), Some(second), third) = (parts.next(), parts.next(), parts.next()) else {
        return Invalid;
    };
    // HTTP/0.9's simple request, `GET SP target CRLF`: no version, no body. tshark reads it
    // as a request once an empty line ends it, as one ends header fields; so do we.
    if first == b"GET" && third.is_none() && !second.is_empty() {
        let after = &head[line_end + 2..];
        if after.len() < 2 {
            return more;
        }
        if !after.starts_with(b"\r\n") {
            return Invalid;
        }
        msg.method = Some(first);
        msg.uri = Some(second);
        return Done(Head {
            message: msg,
            len: line_end + 4,
            body: Body::None,
            request: true,
        });
    }
    let request = if version_ok(first) {
        // HTTP/1.x SP 3DIGIT [SP reason]
        let code = second;
        if code.len() != 3 || !code.iter().all(u8::is_ascii_digit) {
            return Invalid;
        }
        msg.status = Some(code.iter().fold(0, |n, d| n * 10 + (d - b'0') as u16));
        false
    } else {
        let method_ok =
            !first.is_empty() && first.len() <= 20 && first.iter().all(|&b| is_method_char(b));
        match third {
            Some(v) if method_ok && !second.is_empty() && version_ok(v) => {}
            _ => return Invalid,
        }
        msg.method = Some(first);
        msg.uri = Some(second);
        true
    };
    // Header fields up to the empty line.
    let mut at = line_end + 2;
    let mut content_length: Option<u64> = None;
    let mut chunked = false;
    let head_end = loop {
        let Some(found) = find(&head[at..], b"\r\n") else {
            return more;
        };
        let end = at + found;
        let field = &head[at..end];
        if field.is_empty() {
            break end + 2;
        }
        let Some(colon) = field.iter().position(|&b| b == b':') else {
            return Invalid;
        };
        let (name, value) = (&field[..colon], trim(&field[colon + 1..]));
        if name.eq_ignore_ascii_case(b"host") {
            msg.host.get_or_insert(value);
        } else if name.eq_ignore_ascii_case(b"user-agent") {
            msg.user_agent.get_or_insert(value);
        } else if name.eq_ignore_ascii_case(b"content-type") {
            msg.content_type.get_or_insert(value);
        } else if name.eq_ignore_ascii_case(b"content-length") {
            let Some(n) = std::str::from_utf8(value)
                .ok()
                .and_then(|v| v.parse::<u64>().ok())
            else {
                return Invalid;
            };
            // Two different lengths: the message's end is not known.
            if content_length.is_some_and(|m| m != n) {
                return Invalid;
            }
            content_length = Some(n);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            chunked = value
                .rsplit(|&b| b == b',')
                .next()
                .is_some_and(|last| trim(last).eq_ignore_ascii_case(b"chunked"));
        }
        at = end + 2;
    };
    let body = if chunked {
        Body::Chunked
    } else if let Some(n) = content_length {
        Body::Length(n)
    } else if request || matches!(msg.status, Some(100..=199 | 204 | 304)) {
        // A request without a length has no body; a response has none only when its
        // status says so.
        Body::None
    } else {
        Body::ToClose
    };
    Done(Head {
        message: msg,
        len: head_end,
        body,
        request,
    })
}

/// Whether `payload`, too short to tell, may be the first bytes of a start line.
fn may_become_start(payload: &[u8]) -> bool {
    if payload.len() < 7 {
        return b"HTTP/1.".starts_with(payload)
            || payload.iter().all(|&b| is_method_char(b)) && !payload.is_empty();
    }
    payload.len() < 21 && payload.iter().all(|&b| is_method_char(b))
}

/// The longest chunk-size line (with extensions) or trailer line followed.
const MAX_CHUNK_LINE: usize = 1024;

/// Where a chunked body ends (RFC 9112 7.1), found by feeding its bytes in pieces as they
/// arrive: only the size and trailer lines are kept, never the data.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Chunks {
    state: ChunkState,
    /// The line being read (a chunk size or a trailer field), without its CRLF.
    line: Vec<u8>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum ChunkState {
    #[default]
    Size,
    /// Data bytes left of the chunk, then its CRLF.
    Data(u64),
    /// The CRLF after a chunk's data: bytes of it still to come.
    DataEnd(u8),
    Trailer,
}

impl Chunks {
    /// Feed the body's next bytes: `Ok(Some(n))` when the body ends after `n` of them,
    /// `Ok(None)` when all were taken and more are needed, `Err` when they are not a
    /// chunked body.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Option<usize>, ()> {
        let mut at = 0;
        while at < bytes.len() {
            match self.state {
                ChunkState::Data(left) => {
                    let take = left.min((bytes.len() - at) as u64);
                    at += take as usize;
                    self.state = match left - take {
                        0 => ChunkState::DataEnd(2),
                        rest => ChunkState::Data(rest),
                    };
                }
                ChunkState::DataEnd(left) => {
                    let want = if left == 2 { b'\r' } else { b'\n' };
                    if bytes[at] != want {
                        return Err(());
                    }
                    at += 1;
                    self.state = match left - 1 {
                        0 => ChunkState::Size,
                        rest => ChunkState::DataEnd(rest),
                    };
                }
                ChunkState::Size | ChunkState::Trailer => {
                    let rest = &bytes[at..];
                    let Some(lf) = rest.iter().position(|&b| b == b'\n') else {
                        self.line.extend_from_slice(rest);
                        if self.line.len() > MAX_CHUNK_LINE {
                            return Err(());
                        }
                        return Ok(None);
                    };
                    self.line.extend_from_slice(&rest[..lf]);
                    at += lf + 1;
                    let line = std::mem::take(&mut self.line);
                    let Some(line) = line.strip_suffix(b"\r") else {
                        return Err(());
                    };
                    if line.len() > MAX_CHUNK_LINE {
                        return Err(());
                    }
                    if self.state == ChunkState::Trailer {
                        if line.is_empty() {
                            return Ok(Some(at));
                        }
                        continue;
                    }
                    let size_text = trim(line.split(|&b| b == b';').next().unwrap_or(b""));
                    let size = std::str::from_utf8(size_text)
                        .ok()
                        .and_then(|t| u64::from_str_radix(t, 16).ok())
                        .ok_or(())?;
                    self.state = if size == 0 {
                        ChunkState::Trailer
                    } else {
                        ChunkState::Data(size)
                    };
                }
            }
        }
        Ok(None)
    }
}

/// Where the first CRLF of `haystack` starts.
fn find(haystack: &[u8], crlf: &[u8; 2]) -> Option<usize> {
    let mut from = 0;
    loop {
        let lf = from + haystack[from..].iter().position(|&b| b == crlf[1])?;
        if lf > 0 && haystack[lf - 1] == crlf[0] {
            return Some(lf - 1);
        }
        from = lf + 1;
    }
}

fn trim(v: &[u8]) -> &[u8] {
    let start = v
        .iter()
        .position(|b| !b" \t".contains(b))
        .unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|b| !b" \t".contains(b))
        .map_or(start, |e| e + 1);
    &v[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_request() {
        let m = parse(b"GET /index.html?q=1 HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent:  curl/8.0 \r\n\r\n", false)
            .unwrap();
        assert_eq!(m.method, Some(&b"GET"[..]));
        assert_eq!(m.uri, Some(&b"/index.html?q=1"[..]));
        assert_eq!(m.host, Some(&b"www.example.com"[..]));
        assert_eq!(m.user_agent, Some(&b"curl/8.0"[..]));
        assert_eq!(m.status, None);
    }

    #[test]
    fn a_response_is_read_only_with_its_whole_body() {
        let head = b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: 5\r\n\r\n";
        let mut whole = head.to_vec();
        whole.extend_from_slice(b"hello");
        let m = parse(&whole, false).unwrap();
        assert_eq!(
            (m.status, m.content_type),
            (Some(200), Some(&b"text/html; charset=utf-8"[..]))
        );
        assert_eq!(parse(&whole[..whole.len() - 1], false), None);
        assert_eq!(parse(head, false), None);
        // Without a length, only a status without a body is whole.
        assert!(parse(b"HTTP/1.1 304 Not Modified\r\n\r\n", false).is_some());
        assert_eq!(
            parse(b"HTTP/1.0 200 OK\r\n\r\nbody until close", false),
            None
        );
    }

    #[test]
    fn simple_requests_and_datagrams() {
        let m = parse(b"GET /\r\n\r\n", false).unwrap();
        assert_eq!((m.method, m.uri), (Some(&b"GET"[..]), Some(&b"/"[..])));
        assert_eq!(parse(b"POST /\r\n\r\n", false), None);
        assert_eq!(parse(b"GET /bad.html\r\n", false), None);
        // SSDP: a datagram is whole, with or without a length.
        let notify = b"HTTP/1.1 200 OK\r\nLOCATION: http://h/\r\n\r\n";
        assert_eq!(parse(notify, false), None);
        assert_eq!(parse(notify, true).unwrap().status, Some(200));
    }

    #[test]
    fn chunked_bodies_end_at_their_last_chunk() {
        let m = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
        assert_eq!(parse(m, false).unwrap().status, Some(200));
        assert_eq!(parse(&m[..m.len() - 2], false), None);
        assert_eq!(
            parse(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n",
                false
            ),
            None
        );
    }

    #[test]
    fn only_start_lines_are_messages() {
        for junk in [
            &b"get / HTTP/1.1\r\n\r\n"[..],
            b"GET / HTTP/2\r\n\r\n",
            b"HTTP/1.1 2000 OK\r\n\r\n",
            b"GET / HTTP/1.1",
            b"\x16\x03\x01\x00\x05",
            b"SSH-2.0-OpenSSH_9.0\r\n",
        ] {
            assert_eq!(parse(junk, false), None, "{junk:?}");
        }
        // Conflicting lengths: the end is not known.
        assert_eq!(
            parse(
                b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
                false
            ),
            None
        );
    }

    #[test]
    fn any_bytes_parse_without_panic() {
        let base = b"POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n".to_vec();
        let mut next = crate::wire::xorshift(0x853c_49e6_748f_ea9bu64);
        for _ in 0..20_000 {
            let mut m = base.clone();
            for _ in 0..(next() % 5) {
                let i = (next() as usize) % m.len();
                m[i] = next() as u8;
            }
            m.truncate((next() as usize) % (m.len() + 1));
            let _ = parse(&m, false);
        }
    }
}
