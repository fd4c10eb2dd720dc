//! What a flow's packets say of its application: the protocol its messages are in, the
//! name of the server asked for, and the first TLS fingerprints. Each packet's facts come
//! from the same messages the packet table's DNS, TLS, HTTP and QUIC columns read (a TCP
//! segment's from its stream, `stream`; a datagram's from itself), so a flow's values are
//! its packets' first ones in those columns; the table keeps the first of each
//! (`FlowApp::take`).
//!
//! The application is told by content, never by port alone: a TLS hello, an HTTP/1.x head,
//! a DNS message, an SSH version line where the stream says a message starts, or a QUIC
//! client Initial that opens with its version's initial keys (its AEAD tag checks). A DNS
//! datagram is looked for on the DNS ports (53, 5353, 5355) and must parse. HTTP over UDP
//! (SSDP) is not counted as `http`.

use crate::app::{dns_datagram, udp_payload};
use crate::dissect::Dissection;
use crate::stream::{Found, SegmentAt, StreamStart, StreamTracker};
use crate::wire::ip_protocol::{TCP, UDP};
use crate::wire::tls::{Hello, HelloKind};
use crate::wire::{self, dns, http, quic, Progress};

/// An application protocol told by its messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Application {
    Dns,
    Tls,
    Quic,
    Http,
    Ssh,
}

impl Application {
    pub const ALL: [Application; 5] = [
        Application::Dns,
        Application::Tls,
        Application::Quic,
        Application::Http,
        Application::Ssh,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Application::Dns => "dns",
            Application::Tls => "tls",
            Application::Quic => "quic",
            Application::Http => "http",
            Application::Ssh => "ssh",
        }
    }
}

/// What one packet, or a flow so far, says of its application. Text is as the packet
/// table's columns write it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlowApp {
    pub application: Option<Application>,
    /// A ClientHello's SNI (TLS or QUIC), an HTTP request's Host, or a DNS question's name.
    pub server_name: Option<Box<str>>,
    pub ja4: Option<Box<str>>,
    pub ja3: Option<Box<str>>,
    pub ja3s: Option<Box<str>>,
}

impl FlowApp {
    /// Keep what `self` has, and take from `later` what it lacks.
    pub fn take(&mut self, later: &FlowApp) {
        fn first<T: Clone>(kept: &mut Option<T>, later: &Option<T>) {
            if kept.is_none() {
                kept.clone_from(later);
            }
        }
        first(&mut self.application, &later.application);
        first(&mut self.server_name, &later.server_name);
        first(&mut self.ja4, &later.ja4);
        first(&mut self.ja3, &later.ja3);
        first(&mut self.ja3s, &later.ja3s);
    }

    fn is_empty(&self) -> bool {
        *self == FlowApp::default()
    }

    fn of_hello(application: Application, hello: &Hello, over_quic: bool) -> FlowApp {
        match hello.kind {
            HelloKind::Client => FlowApp {
                application: Some(application),
                server_name: hello.server_name.as_deref().map(text),
                ja4: hello.ja4(over_quic).map(Into::into),
                ja3: Some(hello.ja3().into()),
                ja3s: None,
            },
            HelloKind::Server => FlowApp {
                application: Some(application),
                ja3s: Some(hello.ja3().into()),
                ..FlowApp::default()
            },
        }
    }
}

/// Bytes as the packet table's text columns show them (`wire::push_display_text`).
fn text(bytes: &[u8]) -> Box<str> {
    let mut out = String::new();
    wire::push_display_text(bytes, &mut out);
    out.into()
}

/// Each selected packet's application facts, in capture order: the TCP streams followed
/// as the packet table's stream columns follow them, and the QUIC initial keys kept.
pub struct AppReader {
    streams: StreamTracker,
    quic_keys: quic::KeyCache,
}

impl Default for AppReader {
    fn default() -> Self {
        AppReader {
            streams: StreamTracker::new(),
            quic_keys: quic::KeyCache::default(),
        }
    }
}

impl AppReader {
    /// Follow the TCP streams from `start` (a byte range's reader).
    pub fn start_streams(&mut self, start: StreamStart) {
        self.streams = StreamTracker::starting(start);
    }

    pub fn streams_mut(&mut self) -> &mut StreamTracker {
        &mut self.streams
    }

    /// The facts of the packet `dissection` describes in the record's bytes `d` (at
    /// `time`; `at`: where it is, for a byte range's notes); `None` when it has none.
    pub fn read(
        &mut self,
        d: &[u8],
        dissection: &Dissection,
        time: Option<i64>,
        at: SegmentAt,
    ) -> Option<Box<FlowApp>> {
        let p = dissection.ip();
        let facts = match p.protocol {
            TCP => match self.streams.segment(d, p, time, dissection.link.vlan, at)? {
                Found::Tls(hello) => FlowApp::of_hello(Application::Tls, &hello, false),
                Found::Http(head) => match http::parse_head(&head) {
                    Progress::Done(h) => FlowApp {
                        application: Some(Application::Http),
                        server_name: h.message.host.map(text),
                        ..FlowApp::default()
                    },
                    _ => return None,
                },
                Found::Dns(message) => {
                    let mdns =
                        p.src_port == Some(dns::MDNS_PORT) || p.dst_port == Some(dns::MDNS_PORT);
                    of_dns(&dns::Repr::parse_with(&message, mdns, false)?)
                }
                Found::Ssh => FlowApp {
                    application: Some(Application::Ssh),
                    ..FlowApp::default()
                },
            },
            UDP => {
                if let Some((message, mdns)) = dns_datagram(d, p) {
                    if let Some(m) = dns::Repr::parse_with(message, mdns, false) {
                        return Some(Box::new(of_dns(&m)));
                    }
                }
                let mut q = quic::parse_cached(udp_payload(d, p)?, &mut self.quic_keys)?;
                let opened = q.opened;
                // A hello over several Initials, put together by the streams.
                let hello = match q.hello.take() {
                    Some(h) => Some(h),
                    None => self
                        .streams
                        .quic_initial(p, time, dissection.link.vlan, at, q),
                };
                match (hello, opened) {
                    (Some(hello), _) => FlowApp::of_hello(Application::Quic, &hello, true),
                    (None, true) => FlowApp {
                        application: Some(Application::Quic),
                        ..FlowApp::default()
                    },
                    (None, false) => return None,
                }
            }
            _ => return None,
        };
        (!facts.is_empty()).then(|| Box::new(facts))
    }
}

fn of_dns(m: &dns::Repr) -> FlowApp {
    FlowApp {
        application: Some(Application::Dns),
        server_name: m.question.as_ref().map(|q| q.name.as_str().into()),
        ..FlowApp::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flow_keeps_the_first_of_each_fact() {
        let mut flow = FlowApp::default();
        flow.take(&FlowApp {
            application: Some(Application::Dns),
            ..FlowApp::default()
        });
        flow.take(&FlowApp {
            application: Some(Application::Tls),
            server_name: Some("a.example".into()),
            ja3s: Some("s".into()),
            ..FlowApp::default()
        });
        flow.take(&FlowApp {
            server_name: Some("b.example".into()),
            ja4: Some("t13d".into()),
            ..FlowApp::default()
        });
        assert_eq!(flow.application, Some(Application::Dns));
        assert_eq!(flow.server_name.as_deref(), Some("a.example"));
        assert_eq!(flow.ja4.as_deref(), Some("t13d"));
        assert_eq!(flow.ja3, None);
        assert_eq!(flow.ja3s.as_deref(), Some("s"));
    }
}
