//! The steward binary: parse the command line, run it, turn failures into one
//! line on stderr and an exit code.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = match steward::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version print and exit 0; usage errors exit 2.
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    match steward::cli::main(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            // stderr may be a terminal that hung up: a failed write must not panic.
            let _ = writeln!(std::io::stderr(), "{failure}");
            ExitCode::from(failure.code)
        }
    }
}
