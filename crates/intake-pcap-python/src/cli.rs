//! The `pcapframe` command inside the Python package: the wheel's `pcapframe` script calls
//! this with its arguments, and it runs the same code as the standalone binary.

use std::ffi::OsString;
use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::prelude::*;

/// Run `pcapframe` with `argv` (the program's name first); the exit status. The GIL is
/// released for the whole run. A panic is reported as the binary reports it (its message
/// on standard error, status 101), without a Python traceback.
#[pyfunction]
pub(crate) fn pcapframe_main(py: Python<'_>, argv: Vec<OsString>) -> u8 {
    py.detach(|| catch_unwind(AssertUnwindSafe(|| pcapframe_cli::run(argv))).unwrap_or(101))
}
