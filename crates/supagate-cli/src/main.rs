//! The `supagate` command: see the crate's documentation, or `supagate --help`.
#![forbid(unsafe_code)]

use std::process::ExitCode;

fn main() -> ExitCode {
    let code = supagate_cli::run(
        std::env::args_os(),
        &mut std::io::stdin().lock(),
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
        |name| std::env::var(name).ok(),
    );
    ExitCode::from(code)
}
