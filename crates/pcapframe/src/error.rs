//! One error type for the whole crate: what went wrong, in which file, at which byte.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// What kind of failure this is; the Python layer maps kinds to exception classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The operating system refused a read or an open.
    Io,
    /// The first bytes are not a pcap or pcapng header.
    NotACapture,
    /// The file ends inside a record or block (a capture killed while writing).
    Truncated,
    /// A length or field that cannot be right: the file is damaged.
    Corrupt,
    /// The caller asked for something that does not exist (an unknown protocol name,
    /// interface, or an invalid filter expression).
    InvalidArgument,
    /// Live capture was refused: it needs root or CAP_NET_RAW.
    PermissionDenied,
    /// A byte range of this file cannot be read on its own (a pcapng file that describes
    /// a section or interface after its first packet): read the file whole.
    NotSplittable,
    /// libpcap reported a failure during live capture (an interface that went away).
    Capture,
    /// The read was stopped by its caller (Ctrl-C, SIGTERM, a Python KeyboardInterrupt).
    Interrupted,
    /// The file is not the one whose partitions were planned: it was written to or replaced.
    Changed,
    /// Memory ran out (a limit such as `ulimit -v`): a large allocation was tried first and
    /// refused, rather than made and aborting the process.
    OutOfMemory,
    /// A system library an option needs is not installed (libpcap, for filters and live
    /// capture).
    MissingLibrary,
}

#[derive(Debug)]
pub struct Error {
    pub kind: ErrorKind,
    /// The file being read, when there is one.
    pub path: Option<PathBuf>,
    /// Byte offset in the (decompressed) capture stream where the problem starts.
    pub offset: Option<u64>,
    pub message: String,
    pub source: Option<io::Error>,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            path: None,
            offset: None,
            message: message.into(),
            source: None,
        }
    }

    pub fn at(kind: ErrorKind, offset: u64, message: impl Into<String>) -> Self {
        Error {
            offset: Some(offset),
            ..Error::new(kind, message)
        }
    }

    pub fn io(err: io::Error, offset: Option<u64>) -> Self {
        // A buffer that could not grow (`try_reserve` in a reader) is memory, not I/O.
        let kind = match err.kind() {
            io::ErrorKind::OutOfMemory => ErrorKind::OutOfMemory,
            _ => ErrorKind::Io,
        };
        Error {
            kind,
            path: None,
            offset,
            message: err.to_string(),
            source: Some(err),
        }
    }

    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::InvalidArgument, message)
    }

    /// Attach the file name, unless an inner layer already did.
    pub fn in_file(mut self, path: impl Into<PathBuf>) -> Self {
        if self.path.is_none() {
            self.path = Some(path.into());
        }
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(path) = &self.path {
            write!(f, "{}: ", path.display())?;
        }
        if let Some(offset) = self.offset {
            write!(f, "at byte offset {offset}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_ref().map(|e| e as _)
    }
}

/// `" did you mean \"x\"?"` for the candidate nearest `name`, if one is near enough: at
/// most two edits (insertions, deletions, substitutions, swaps of neighbours; fewer than
/// `name` has letters), ties going to the one of `name`'s length, then to the first
/// (lists put the common names first: "tpc" is "tcp", not "3pc"); otherwise nothing. For
/// messages about a mistyped name.
pub fn did_you_mean<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    let name = name.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|c| {
            let edits = strsim::damerau_levenshtein(&name, c);
            let lengths = name.len().abs_diff(c.len());
            (edits, lengths, c)
        })
        .filter(|&(edits, ..)| edits <= 2 && edits < name.len())
        .min_by_key(|&(edits, lengths, _)| (edits, lengths))
        .map(|(.., c)| format!(" did you mean {c:?}?"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::did_you_mean;

    #[test]
    fn a_near_name_is_suggested_and_a_far_one_is_not() {
        let names = ["tcp", "udp", "icmp", "icmp6", "igmp"];
        assert_eq!(did_you_mean("icmp7", names), " did you mean \"icmp6\"?");
        assert_eq!(did_you_mean("UPD", names), " did you mean \"udp\"?");
        assert_eq!(
            did_you_mean("tpc", ["tcp", "3pc"]),
            " did you mean \"tcp\"?"
        );
        assert_eq!(did_you_mean("zzzzzz", names), "");
        // Two edits turn "ab" into "tcp"'s length-3 neighbours no more than into anything:
        // a name as short as its edits is no typo of anything.
        assert_eq!(did_you_mean("ab", names), "");
    }
}
