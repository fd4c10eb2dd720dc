//! libpcap, loaded when a filter or a live capture first needs it, so that reading files
//! needs no libpcap at all and one wheel runs on machines with or without it (issue 14).
//! Only the handful of calls tcpdump's filter language and live capture use are bound; their
//! signatures are pcap/pcap.h's and pcap/bpf.h's, stable since libpcap 1.5 (2013).

use std::ffi::{c_char, c_int, c_uint, c_void, CStr, CString};
use std::sync::OnceLock;

use crate::error::{Error, ErrorKind, Result};

/// `PCAP_ERRBUF_SIZE`.
const ERRBUF_SIZE: usize = 256;
/// The netmask `ip broadcast` is compiled for: 0, as `tcpdump -r` passes for a file (it has
/// no interface to ask), so that broadcast means 255.255.255.255 (and 0.0.0.0).
const NETMASK: u32 = 0;
/// `PCAP_TSTAMP_PRECISION_NANO`.
const TSTAMP_PRECISION_NANO: c_int = 1;
/// The names libpcap's runtime package installs, most common first (Debian and Ubuntu keep
/// the old soname 0.8; Fedora, Arch and Alpine use 1; macOS ships the dylib).
const LIBRARY_NAMES: &[&str] = &[
    "libpcap.so.0.8",
    "libpcap.so.1",
    "libpcap.so",
    "libpcap.A.dylib",
    "libpcap.dylib",
];
/// Names a library file to load instead of searching for one.
pub const LIBRARY_ENV: &str = "INTAKE_PCAP_LIBPCAP";

/// `struct bpf_insn`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct BpfInsn {
    code: u16,
    jt: u8,
    jf: u8,
    k: u32,
}

/// libpcap's interpreter, `bpf_filter`: non-zero when the program accepts the packet.
type Interpreter = unsafe extern "C" fn(*const BpfInsn, *const u8, c_uint, c_uint) -> c_uint;

/// A compiled filter, owned as plain instructions (so it can move between threads) with the
/// interpreter that runs it: nothing is looked up per packet.
#[derive(Debug, Clone)]
pub struct Program {
    instructions: Vec<BpfInsn>,
    interpret: Interpreter,
}

impl Program {
    /// Whether the program accepts the packet. `buflen` bounds every load the interpreter
    /// makes, so a packet cut short by the snap length is safe; the wire length is what
    /// `greater`/`less` see.
    #[inline]
    pub fn matches(&self, data: &[u8], wire_len: u32) -> bool {
        // SAFETY: a program libpcap compiled, run by libpcap's own interpreter over the
        // packet's bytes and their length.
        unsafe {
            (self.interpret)(
                self.instructions.as_ptr(),
                data.as_ptr(),
                wire_len.max(data.len() as u32),
                data.len() as c_uint,
            ) != 0
        }
    }
}

/// `struct bpf_program`.
#[repr(C)]
struct BpfProgram {
    len: c_uint,
    insns: *mut BpfInsn,
}

/// `struct pcap_pkthdr`.
#[repr(C)]
pub struct PacketHeader {
    pub ts: libc::timeval,
    pub caplen: u32,
    pub len: u32,
}

/// `struct pcap_stat` (its first three fields, all that Unix systems fill).
#[repr(C)]
#[derive(Default)]
struct Stat {
    recv: c_uint,
    drop: c_uint,
    ifdrop: c_uint,
    /// Room for platforms whose struct is longer.
    _reserved: [c_uint; 8],
}

/// `struct pcap_if` (the fields read here).
#[repr(C)]
struct PcapIf {
    next: *mut PcapIf,
    name: *mut c_char,
}

type Pcap = c_void;

/// The bound functions. The library is never unloaded: the pointers live as long as it.
struct Api {
    _library: libloading::Library,
    fopen_offline: unsafe extern "C" fn(*mut libc::FILE, *mut c_char) -> *mut Pcap,
    compile: unsafe extern "C" fn(*mut Pcap, *mut BpfProgram, *const c_char, c_int, u32) -> c_int,
    freecode: unsafe extern "C" fn(*mut BpfProgram),
    geterr: unsafe extern "C" fn(*mut Pcap) -> *mut c_char,
    statustostr: unsafe extern "C" fn(c_int) -> *const c_char,
    close: unsafe extern "C" fn(*mut Pcap),
    bpf_filter: Interpreter,
    findalldevs: unsafe extern "C" fn(*mut *mut PcapIf, *mut c_char) -> c_int,
    freealldevs: unsafe extern "C" fn(*mut PcapIf),
    create: unsafe extern "C" fn(*const c_char, *mut c_char) -> *mut Pcap,
    set_snaplen: unsafe extern "C" fn(*mut Pcap, c_int) -> c_int,
    set_promisc: unsafe extern "C" fn(*mut Pcap, c_int) -> c_int,
    set_timeout: unsafe extern "C" fn(*mut Pcap, c_int) -> c_int,
    set_buffer_size: unsafe extern "C" fn(*mut Pcap, c_int) -> c_int,
    set_tstamp_precision: unsafe extern "C" fn(*mut Pcap, c_int) -> c_int,
    activate: unsafe extern "C" fn(*mut Pcap) -> c_int,
    setnonblock: unsafe extern "C" fn(*mut Pcap, c_int, *mut c_char) -> c_int,
    setfilter: unsafe extern "C" fn(*mut Pcap, *mut BpfProgram) -> c_int,
    next_ex: unsafe extern "C" fn(*mut Pcap, *mut *mut PacketHeader, *mut *const u8) -> c_int,
    stats: unsafe extern "C" fn(*mut Pcap, *mut Stat) -> c_int,
    datalink: unsafe extern "C" fn(*mut Pcap) -> c_int,
    get_selectable_fd: unsafe extern "C" fn(*mut Pcap) -> c_int,
}

static API: OnceLock<std::result::Result<Api, String>> = OnceLock::new();

fn api() -> Result<&'static Api> {
    API.get_or_init(load).as_ref().map_err(|why| {
        Error::new(
            ErrorKind::MissingLibrary,
            format!(
                "libpcap could not be loaded ({why}). Filter expressions and live capture need \
                 it; reading files does not. Install libpcap's runtime package: `apt install \
                 libpcap0.8` (Debian, Ubuntu), `dnf install libpcap` (Fedora, RHEL), `apk add \
                 libpcap` (Alpine), or set {LIBRARY_ENV} to the library's path"
            ),
        )
    })
}

fn load() -> std::result::Result<Api, String> {
    let candidates: Vec<String> = match std::env::var(LIBRARY_ENV) {
        Ok(path) if !path.is_empty() => vec![path],
        _ => LIBRARY_NAMES.iter().map(|s| s.to_string()).collect(),
    };
    load_from(&candidates)
}

/// The first of `candidates` that loads and has every function bound here.
fn load_from(candidates: &[String]) -> std::result::Result<Api, String> {
    let mut failures = Vec::new();
    for name in candidates {
        // SAFETY: loading libpcap runs no initialisers beyond the C runtime's.
        match unsafe { libloading::Library::new(name) } {
            Ok(library) => return bind(library).map_err(|e| format!("{name}: {e}")),
            Err(e) => failures.push(e.to_string()),
        }
    }
    Err(if failures.len() == 1 {
        failures.remove(0)
    } else {
        format!("tried {}", candidates.join(", "))
    })
}

fn bind(library: libloading::Library) -> std::result::Result<Api, libloading::Error> {
    // SAFETY: each symbol is declared with its type in pcap.h / bpf.h; the pointers are
    // copied out and the library is kept in the same struct, never unloaded.
    unsafe {
        macro_rules! symbol {
            ($name:literal) => {
                *library.get(concat!($name, "\0").as_bytes())?
            };
        }
        Ok(Api {
            fopen_offline: symbol!("pcap_fopen_offline"),
            compile: symbol!("pcap_compile"),
            freecode: symbol!("pcap_freecode"),
            geterr: symbol!("pcap_geterr"),
            statustostr: symbol!("pcap_statustostr"),
            close: symbol!("pcap_close"),
            bpf_filter: symbol!("bpf_filter"),
            findalldevs: symbol!("pcap_findalldevs"),
            freealldevs: symbol!("pcap_freealldevs"),
            create: symbol!("pcap_create"),
            set_snaplen: symbol!("pcap_set_snaplen"),
            set_promisc: symbol!("pcap_set_promisc"),
            set_timeout: symbol!("pcap_set_timeout"),
            set_buffer_size: symbol!("pcap_set_buffer_size"),
            set_tstamp_precision: symbol!("pcap_set_tstamp_precision"),
            activate: symbol!("pcap_activate"),
            setnonblock: symbol!("pcap_setnonblock"),
            setfilter: symbol!("pcap_setfilter"),
            next_ex: symbol!("pcap_next_ex"),
            stats: symbol!("pcap_stats"),
            datalink: symbol!("pcap_datalink"),
            get_selectable_fd: symbol!("pcap_get_selectable_fd"),
            _library: library,
        })
    }
}

fn errbuf_text(buf: &[c_char; ERRBUF_SIZE]) -> String {
    // SAFETY: libpcap NUL-terminates what it writes; the buffer starts zeroed.
    unsafe { CStr::from_ptr(buf.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

/// An error from libpcap, as its text; the caller adds what was being done.
#[derive(Debug, Clone)]
pub struct PcapError {
    pub message: String,
}

impl std::fmt::Display for PcapError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// The outcome of `Handle::next_packet` other than a packet.
#[derive(Debug)]
pub enum NextError {
    /// Non-blocking mode and nothing to read now.
    NothingYet,
    Failed(PcapError),
}

/// An open `pcap_t`, closed on drop. Not `Send`: libpcap handles stay on their thread.
pub struct Handle {
    api: &'static Api,
    raw: *mut Pcap,
}

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: the handle is ours and closed once.
        unsafe { (self.api.close)(self.raw) }
    }
}

impl Handle {
    fn error(&self) -> PcapError {
        // SAFETY: a string inside the live handle, copied at once.
        let text = unsafe { CStr::from_ptr((self.api.geterr)(self.raw)) };
        PcapError {
            message: text.to_string_lossy().into_owned(),
        }
    }

    /// A savefile handle over a pcap file header with no packets, handed over as a pipe:
    /// libpcap then compiles as tcpdump does for a file of that link type and byte order.
    pub fn offline_for(header: &[u8]) -> Result<std::result::Result<Handle, PcapError>> {
        use std::io::Write;
        use std::os::fd::IntoRawFd;

        let api = api()?;
        let fail = |message: String| Ok(Err(PcapError { message }));
        let (reader, mut writer) = match std::io::pipe() {
            Ok(p) => p,
            Err(e) => return fail(e.to_string()),
        };
        if let Err(e) = writer.write_all(header) {
            return fail(e.to_string());
        }
        drop(writer);
        let fd = reader.into_raw_fd();
        // SAFETY: the descriptor is ours; fdopen takes it over (fclose, by pcap_close, closes it).
        let file = unsafe { libc::fdopen(fd, c"rb".as_ptr()) };
        if file.is_null() {
            let e = std::io::Error::last_os_error();
            // SAFETY: fdopen failed, so the descriptor is still ours to close.
            unsafe { libc::close(fd) };
            return fail(e.to_string());
        }
        let mut errbuf = [0 as c_char; ERRBUF_SIZE];
        // SAFETY: a valid FILE* and an errbuf of PCAP_ERRBUF_SIZE.
        let raw = unsafe { (api.fopen_offline)(file, errbuf.as_mut_ptr()) };
        if raw.is_null() {
            // SAFETY: libpcap did not take the FILE over.
            unsafe { libc::fclose(file) };
            return fail(errbuf_text(&errbuf));
        }
        Ok(Ok(Handle { api, raw }))
    }

    /// Compile an expression on this handle (optimised, as tcpdump does).
    pub fn compile(&self, expression: &str) -> std::result::Result<Program, PcapError> {
        let mut program = self.compile_raw(expression)?;
        // SAFETY: libpcap's program holds `len` instructions until freed, just below.
        let instructions =
            unsafe { std::slice::from_raw_parts(program.insns, program.len as usize) }.to_vec();
        // SAFETY: compiled by pcap_compile, freed once.
        unsafe { (self.api.freecode)(&mut program) };
        Ok(Program {
            instructions,
            interpret: self.api.bpf_filter,
        })
    }

    fn compile_raw(&self, expression: &str) -> std::result::Result<BpfProgram, PcapError> {
        let text = CString::new(expression).map_err(|_| PcapError {
            message: "the expression holds a NUL character".to_string(),
        })?;
        let mut program = BpfProgram {
            len: 0,
            insns: std::ptr::null_mut(),
        };
        // SAFETY: a valid handle, program and C string.
        let status =
            unsafe { (self.api.compile)(self.raw, &mut program, text.as_ptr(), 1, NETMASK) };
        if status < 0 {
            return Err(self.error());
        }
        Ok(program)
    }

    /// Open an interface for capture: nanosecond timestamps, non-blocking.
    pub fn live(
        interface: &str,
        snaplen: i32,
        promiscuous: bool,
        timeout_ms: i32,
        buffer_bytes: i32,
    ) -> Result<std::result::Result<Handle, PcapError>> {
        let api = api()?;
        let Ok(name) = CString::new(interface) else {
            return Ok(Err(PcapError {
                message: "the interface name holds a NUL character".to_string(),
            }));
        };
        let mut errbuf = [0 as c_char; ERRBUF_SIZE];
        // SAFETY: a C string and an errbuf of PCAP_ERRBUF_SIZE.
        let raw = unsafe { (api.create)(name.as_ptr(), errbuf.as_mut_ptr()) };
        if raw.is_null() {
            return Ok(Err(PcapError {
                message: errbuf_text(&errbuf),
            }));
        }
        let handle = Handle { api, raw };
        // SAFETY: setters on a created, not yet activated handle; their only failure is
        // "already activated", which cannot happen here.
        unsafe {
            (api.set_snaplen)(raw, snaplen);
            (api.set_promisc)(raw, promiscuous as c_int);
            (api.set_timeout)(raw, timeout_ms);
            (api.set_buffer_size)(raw, buffer_bytes);
            (api.set_tstamp_precision)(raw, TSTAMP_PRECISION_NANO);
        }
        // SAFETY: a created handle.
        let status = unsafe { (api.activate)(raw) };
        if status < 0 {
            // PCAP_ERROR (-1) leaves its text in the handle; the other codes have their own,
            // with the handle's detail when there is one.
            // SAFETY: a static string for any code.
            let code_text = unsafe { CStr::from_ptr((api.statustostr)(status)) }
                .to_string_lossy()
                .into_owned();
            let detail = handle.error().message;
            let message = match (status, detail.is_empty()) {
                (-1, false) => detail,
                (_, true) => code_text,
                (_, false) => format!("{code_text}: {detail}"),
            };
            return Ok(Err(PcapError { message }));
        }
        let mut errbuf = [0 as c_char; ERRBUF_SIZE];
        // SAFETY: an activated handle and an errbuf.
        if unsafe { (api.setnonblock)(raw, 1, errbuf.as_mut_ptr()) } < 0 {
            return Ok(Err(PcapError {
                message: errbuf_text(&errbuf),
            }));
        }
        Ok(Ok(handle))
    }

    /// Run `expression` in the kernel on this live handle.
    pub fn set_filter(&self, expression: &str) -> std::result::Result<(), PcapError> {
        let mut program = self.compile_raw(expression)?;
        // SAFETY: a compiled program on an activated handle; libpcap copies it.
        let status = unsafe { (self.api.setfilter)(self.raw, &mut program) };
        // SAFETY: freed once.
        unsafe { (self.api.freecode)(&mut program) };
        if status < 0 {
            return Err(self.error());
        }
        Ok(())
    }

    /// The next packet: its header and bytes, valid until the next call.
    pub fn next_packet(&mut self) -> std::result::Result<(&PacketHeader, &[u8]), NextError> {
        let mut header: *mut PacketHeader = std::ptr::null_mut();
        let mut data: *const u8 = std::ptr::null();
        // SAFETY: an activated handle and two out pointers.
        match unsafe { (self.api.next_ex)(self.raw, &mut header, &mut data) } {
            // SAFETY: on 1, libpcap's header and `caplen` bytes stay valid until the next
            // call on this handle, which the borrow of self prevents.
            1 => unsafe {
                let header = &*header;
                Ok((
                    header,
                    std::slice::from_raw_parts(data, header.caplen as usize),
                ))
            },
            0 => Err(NextError::NothingYet),
            -2 => Err(NextError::Failed(PcapError {
                message: "the capture was ended (pcap_breakloop)".to_string(),
            })),
            _ => Err(NextError::Failed(self.error())),
        }
    }

    /// libpcap's counters: received, dropped by the kernel, dropped by the interface.
    pub fn stats(&self) -> Option<(u64, u64, u64)> {
        let mut stat = Stat::default();
        // SAFETY: an activated handle and a struct at least as long as pcap_stat.
        if unsafe { (self.api.stats)(self.raw, &mut stat) } < 0 {
            return None;
        }
        Some((stat.recv as u64, stat.drop as u64, stat.ifdrop as u64))
    }

    /// The DLT_* value of the handle's link layer.
    pub fn datalink(&self) -> i32 {
        // SAFETY: an activated handle.
        unsafe { (self.api.datalink)(self.raw) }
    }

    /// A descriptor to poll() for readability.
    pub fn selectable_fd(&self) -> i32 {
        // SAFETY: an activated handle.
        unsafe { (self.api.get_selectable_fd)(self.raw) }
    }
}

/// The names of the capture devices libpcap sees (empty when it sees none or fails).
pub fn device_names() -> Result<Vec<String>> {
    let api = api()?;
    let mut list: *mut PcapIf = std::ptr::null_mut();
    let mut errbuf = [0 as c_char; ERRBUF_SIZE];
    // SAFETY: an out pointer and an errbuf.
    if unsafe { (api.findalldevs)(&mut list, errbuf.as_mut_ptr()) } < 0 {
        return Err(Error::new(
            ErrorKind::Capture,
            format!(
                "libpcap cannot list the interfaces: {}",
                errbuf_text(&errbuf)
            ),
        ));
    }
    let mut names = Vec::new();
    let mut node = list;
    while !node.is_null() {
        // SAFETY: a node of the list libpcap built, freed below.
        unsafe {
            if !(*node).name.is_null() {
                names.push(CStr::from_ptr((*node).name).to_string_lossy().into_owned());
            }
            node = (*node).next;
        }
    }
    if !list.is_null() {
        // SAFETY: the list pcap_findalldevs returned, freed once.
        unsafe { (api.freealldevs)(list) };
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_library_is_named_and_the_found_one_binds_every_call() {
        let missing = load_from(&["/nonexistent/libpcap.so.0.8".to_string()])
            .err()
            .unwrap();
        assert!(missing.contains("/nonexistent/libpcap.so.0.8"), "{missing}");
        // Not libpcap: it loads, but the calls are not there.
        let wrong = load_from(&["libc.so.6".to_string()]).err().unwrap();
        assert!(wrong.contains("pcap_fopen_offline"), "{wrong}");
        assert!(load().is_ok());
    }
}
