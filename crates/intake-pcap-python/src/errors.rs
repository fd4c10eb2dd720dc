//! What goes wrong, as Python sees it: the exception classes, the core's errors mapped
//! onto them (or onto Python's own: `FileNotFoundError`, `ValueError`, `MemoryError`, ...),
//! and `guard`, which keeps a Rust panic from crossing into Python.

use std::panic::{catch_unwind, AssertUnwindSafe};

use pcapframe::{Error, ErrorKind};
use pyo3::create_exception;
use pyo3::exceptions::{
    PyException, PyFileNotFoundError, PyImportError, PyKeyboardInterrupt, PyMemoryError, PyOSError,
    PyPermissionError, PyValueError,
};
use pyo3::prelude::*;

create_exception!(
    intake_pcap,
    CaptureError,
    PyException,
    "A capture file could not be read."
);
create_exception!(
    intake_pcap,
    NotACaptureError,
    CaptureError,
    "The file is not a pcap or pcapng capture."
);
create_exception!(
    intake_pcap,
    TruncatedCaptureError,
    CaptureError,
    "The capture ends inside a record."
);
create_exception!(
    intake_pcap,
    CorruptCaptureError,
    CaptureError,
    "The capture holds an impossible length or field."
);

/// The Python exception for an error of the core; its text (which names the file and
/// what to do) is kept as it is.
pub(crate) fn to_py_err(e: Error) -> PyErr {
    let text = e.to_string();
    match e.kind {
        ErrorKind::Io => match e.source.as_ref().map(|s| s.kind()) {
            Some(std::io::ErrorKind::NotFound) => PyFileNotFoundError::new_err(text),
            _ => PyOSError::new_err(text),
        },
        ErrorKind::NotACapture => NotACaptureError::new_err(text),
        ErrorKind::Truncated => TruncatedCaptureError::new_err(text),
        ErrorKind::Corrupt => CorruptCaptureError::new_err(text),
        ErrorKind::InvalidArgument => PyValueError::new_err(text),
        ErrorKind::PermissionDenied => PyPermissionError::new_err(text),
        ErrorKind::Capture | ErrorKind::NotSplittable | ErrorKind::Changed => {
            CaptureError::new_err(text)
        }
        ErrorKind::Interrupted => PyKeyboardInterrupt::new_err(text),
        ErrorKind::OutOfMemory => PyMemoryError::new_err(text),
        // As pandas reports a missing optional dependency.
        ErrorKind::MissingLibrary => PyImportError::new_err(text),
    }
}

/// Run `f`, turning a panic into a `CaptureError` that asks for a bug report. Every entry
/// point that runs Rust code of any size goes through here: PyO3's own fallback would raise
/// `PanicException`, which derives from `BaseException` and escapes `except Exception`.
pub(crate) fn guard<T>(what: &str, f: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|panic| {
        let detail = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Err(CaptureError::new_err(format!(
            "internal error in {what} (a bug in intake-pcap, please report it): {detail}"
        )))
    })
}

/// Add the exception classes to the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("CaptureError", py.get_type::<CaptureError>())?;
    m.add("NotACaptureError", py.get_type::<NotACaptureError>())?;
    m.add(
        "TruncatedCaptureError",
        py.get_type::<TruncatedCaptureError>(),
    )?;
    m.add("CorruptCaptureError", py.get_type::<CorruptCaptureError>())?;
    Ok(())
}
