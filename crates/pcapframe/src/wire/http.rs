//! HTTP/1.x messages (RFC 9112): a request's or a response's start line and the header
//! fields the HTTP columns hold, read from a TCP payload that starts with the message.
//!
//! A message is recognised by its start line (`METHOD SP target SP HTTP/1.x CRLF`, or
//! `HTTP/1.x SP 3DIGIT ...`), not by port. Its fields belong to the segment that completes
//! it, as tshark attributes a reassembled message (headers and body): so a message is read
//! only when its segment holds all of it (the header block, and a body whose end is known:
//! none, `Content-Length` bytes, or chunks up to the last); otherwise `None`.

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

/// The message at the start of `payload`, if it is one and the payload holds it whole.
/// `datagram`: the payload is a UDP datagram (SSDP's HTTP over UDP), whose end is the
/// message's end whatever its header fields say.
pub fn parse(payload: &[u8], datagram: bool) -> Option<Message<'_>> {
    if !may_start_message(payload) {
        return None;
    }
    let head = &payload[..payload.len().min(MAX_HEAD)];
    let line_end = find(head, b"\r\n")?;
    let line = &head[..line_end];
    let mut msg = Message::default();
    let mut parts = line.splitn(3, |&b| b == b' ');
    let (first, second, third) = (parts.next()?, parts.next()?, parts.next());
    // HTTP/0.9's simple request, `GET SP target CRLF`: no version, no body. tshark reads it
    // as a request once an empty line ends it, as one ends header fields; so do we.
    if first == b"GET" && third.is_none() && !second.is_empty() {
        if !head[line_end + 2..].starts_with(b"\r\n") {
            return None;
        }
        msg.method = Some(first);
        msg.uri = Some(second);
        return Some(msg);
    }
    let request = if version_ok(first) {
        // HTTP/1.x SP 3DIGIT [SP reason]
        let code = second;
        if code.len() != 3 || !code.iter().all(u8::is_ascii_digit) {
            return None;
        }
        msg.status = Some(std::str::from_utf8(code).ok()?.parse().ok()?);
        false
    } else {
        let method_ok =
            !first.is_empty() && first.len() <= 20 && first.iter().all(|&b| is_method_char(b));
        if !method_ok || second.is_empty() || !version_ok(third?) {
            return None;
        }
        msg.method = Some(first);
        msg.uri = Some(second);
        true
    };
    // Header fields up to the empty line.
    let mut at = line_end + 2;
    let mut content_length: Option<usize> = None;
    let mut chunked = false;
    let head_end = loop {
        let end = at + find(&head[at..], b"\r\n")?;
        let field = &head[at..end];
        if field.is_empty() {
            break end + 2;
        }
        let colon = field.iter().position(|&b| b == b':')?;
        let (name, value) = (&field[..colon], trim(&field[colon + 1..]));
        if name.eq_ignore_ascii_case(b"host") {
            msg.host.get_or_insert(value);
        } else if name.eq_ignore_ascii_case(b"user-agent") {
            msg.user_agent.get_or_insert(value);
        } else if name.eq_ignore_ascii_case(b"content-type") {
            msg.content_type.get_or_insert(value);
        } else if name.eq_ignore_ascii_case(b"content-length") {
            let n = std::str::from_utf8(value).ok()?.parse::<usize>().ok()?;
            // Two different lengths: the message's end is not known.
            if content_length.is_some_and(|m| m != n) {
                return None;
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
    let body = &payload[head_end..];
    let whole = if datagram {
        true
    } else if chunked {
        chunks_end(body).is_some()
    } else if let Some(n) = content_length {
        body.len() >= n
    } else if request {
        true // a request without a length has no body
    } else {
        // A response without a length has none only when its status says so; otherwise
        // it runs to the connection's close.
        matches!(msg.status, Some(100..=199 | 204 | 304))
    };
    whole.then_some(msg)
}

/// Where a chunked body ends (after its last chunk and trailer), if `body` holds it all.
fn chunks_end(body: &[u8]) -> Option<usize> {
    let mut at = 0;
    loop {
        let line_end = at + find(&body[at..], b"\r\n")?;
        let size_text = body[at..line_end].split(|&b| b == b';').next()?;
        let size = usize::from_str_radix(std::str::from_utf8(trim(size_text)).ok()?, 16).ok()?;
        at = line_end + 2;
        if size == 0 {
            // Trailer fields up to the empty line.
            loop {
                let end = at + find(&body[at..], b"\r\n")?;
                if end == at {
                    return Some(end + 2);
                }
                at = end + 2;
            }
        }
        at = at.checked_add(size)?.checked_add(2)?;
        if at > body.len() {
            return None;
        }
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
