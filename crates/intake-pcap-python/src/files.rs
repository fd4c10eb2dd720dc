//! Python file objects as capture inputs: what `fsspec.open` gives for remote files and
//! other codecs, and named pipes opened once by the Python side.

use pyo3::exceptions::PyEOFError;
use pyo3::prelude::*;

/// A Python binary file object as a byte stream: each `read` takes the GIL for one call of
/// the object's `read1(n)` (or `read(n)`); the window asks for about a megabyte at a time.
/// `read1` matters for decompressors: their `read(n)` throws away what it had decompressed
/// when the stream turns out to be cut short.
pub(crate) struct PyFileReader {
    file: Py<PyAny>,
    method: &'static str,
}

impl PyFileReader {
    pub(crate) fn new(file: &Bound<'_, PyAny>) -> Self {
        let method = if file.hasattr("read1").unwrap_or(false) {
            "read1"
        } else {
            "read"
        };
        PyFileReader {
            file: file.clone().unbind(),
            method,
        }
    }
}

impl std::io::Read for PyFileReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        Python::attach(|py| {
            let chunk = self
                .file
                .bind(py)
                .call_method1(self.method, (buf.len(),))
                .map_err(|e| {
                    // A compressed stream that ends early: a truncated capture, not an I/O failure.
                    let kind = if e.is_instance_of::<PyEOFError>(py) {
                        std::io::ErrorKind::UnexpectedEof
                    } else {
                        std::io::ErrorKind::Other
                    };
                    std::io::Error::new(kind, e.to_string())
                })?;
            let bytes: &[u8] = chunk
                .extract()
                .map_err(|e| std::io::Error::other(format!("read() must return bytes: {e}")))?;
            let n = bytes.len().min(buf.len());
            buf[..n].copy_from_slice(&bytes[..n]);
            Ok(n)
        })
    }
}
