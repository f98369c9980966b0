//! What every test of the command does: run it in-process, as `main` does, on the given
//! arguments, standard input and environment.
#![allow(clippy::unwrap_used, clippy::panic)]

/// The exit status, standard output and standard error of one run.
pub(crate) struct Ran {
    pub(crate) code: u8,
    pub(crate) out: String,
    pub(crate) err: String,
}

/// Runs `supagate <args>` (the program name is added) with `stdin` and `env` as the whole
/// environment.
pub(crate) fn run<S: AsRef<str>>(
    args: &[S],
    stdin: impl AsRef<[u8]>,
    env: &[(String, String)],
) -> Ran {
    let argv: Vec<String> = std::iter::once("supagate".to_owned())
        .chain(args.iter().map(|a| a.as_ref().to_owned()))
        .collect();
    let env = env.to_vec();
    let mut out = Vec::new();
    let mut err = Vec::new();
    let code = supagate_cli::run(
        argv,
        &mut stdin.as_ref(),
        &mut out,
        &mut err,
        supagate_cli::Variables::from_lookup(move |n| {
            env.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone())
        }),
    );
    Ran {
        code,
        out: String::from_utf8(out).unwrap(),
        err: String::from_utf8(err).unwrap(),
    }
}

/// The entry named `name` in a `doctor --json` report's `checks`.
#[allow(dead_code)] // not every test file asks the doctor
pub(crate) fn check<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == name)
        .unwrap_or_else(|| panic!("no check {name} in {report:#}"))
}
