//! The `supagate` command: see the crate's documentation, or `supagate --help`.
#![forbid(unsafe_code)]

use std::process::ExitCode;

fn main() -> ExitCode {
    let code = supagate_cli::run(
        std::env::args_os(),
        &mut std::io::stdin().lock(),
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
        supagate_cli::Variables::from_env(),
    );
    ExitCode::from(code)
}
