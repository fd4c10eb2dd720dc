//! The `pcapframe` command; everything is in the library, which the Python package runs too.

use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::from(pcapframe_cli::run(std::env::args_os()))
}
