//! Rust work done without the GIL, so that other Python threads run meanwhile, and Ctrl-C
//! during it. Signal handlers run only in Python's main thread, and only when it runs
//! Python: a long read that held the thread would hold Ctrl-C back until it ended.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Mutex;
use std::time::Duration;

use pcapframe::reader::Cancel;
use pyo3::prelude::*;

use crate::errors::CaptureError;

/// How often a thread waiting for Rust work checks for Python signals (Ctrl-C).
const SIGNAL_POLL: Duration = Duration::from_millis(50);

/// Run `work` on a helper thread while this one waits without the GIL, checking for
/// Python signals every `SIGNAL_POLL`: Ctrl-C then raises KeyboardInterrupt here within
/// that, after `cancel` has stopped the work at its next record. A panic in `work`
/// resumes here, for `guard` to turn into an exception.
pub(crate) fn interruptible<T: Send>(
    py: Python<'_>,
    cancel: &Cancel,
    work: impl FnOnce() -> T + Send,
) -> PyResult<T> {
    use std::sync::mpsc::{sync_channel, RecvTimeoutError};
    std::thread::scope(|scope| {
        let (done_tx, mut done_rx) = sync_channel(1);
        // The work goes to the thread once it has started: a thread that cannot start
        // drops its closure, and the work with it.
        let (work_tx, work_rx) = sync_channel(1);
        let started = std::thread::Builder::new().spawn_scoped(scope, move || {
            if let Ok(work) = work_rx.recv() {
                let _ = done_tx.send(catch_unwind(AssertUnwindSafe(work)));
            }
        });
        if started.is_err() {
            // No thread to be had (a memory limit): do the work here, without the GIL,
            // where Ctrl-C waits for its end; running out of memory in it is still a
            // MemoryError naming the file.
            return Ok(py.detach(work));
        }
        if work_tx.send(work).is_err() {
            return Err(CaptureError::new_err(
                "internal error: a read's thread ended before its work came (a bug in intake-pcap, please report it)",
            ));
        }
        loop {
            let (rx, waited) = py.detach(move || {
                let waited = done_rx.recv_timeout(SIGNAL_POLL);
                (done_rx, waited)
            });
            done_rx = rx;
            match waited {
                Ok(Ok(value)) => return Ok(value),
                Ok(Err(panic)) => std::panic::resume_unwind(panic),
                Err(RecvTimeoutError::Timeout) => {
                    if let Err(interrupt) = py.check_signals() {
                        cancel.cancel();
                        // The work stops at its next record; wait for it to let go of
                        // what it borrows.
                        py.detach(move || drop(done_rx.recv()));
                        return Err(interrupt);
                    }
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(CaptureError::new_err(
                        "internal error: a read ended without an answer (a bug in intake-pcap, please report it)",
                    ))
                }
            }
        }
    })
}

/// Lock `slot` and run `f` on what it holds, both without the GIL: a thread that holds the
/// lock may be waiting for the GIL, so waiting for the lock while holding the GIL deadlocks.
/// A panic in `f` empties the slot (its reader may be half-updated) and goes on unwinding,
/// to be turned into an exception by `guard`.
pub(crate) fn locked<R: Send, T: Send>(
    py: Python<'_>,
    slot: &Mutex<Option<R>>,
    f: impl FnOnce(&mut Option<R>) -> T + Send,
) -> T {
    py.detach(|| {
        let mut held = slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match catch_unwind(AssertUnwindSafe(|| f(&mut held))) {
            Ok(value) => value,
            Err(panic) => {
                *held = None;
                std::panic::resume_unwind(panic)
            }
        }
    })
}
