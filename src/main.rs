//! The `stepwise` binary: a thin wrapper; everything lives in the library where tests reach it.
fn main() -> std::process::ExitCode {
    stepwise::cli::run()
}
