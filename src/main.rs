//! The `provlog` binary: see `provlog --help`.

fn main() -> std::process::ExitCode {
    provlog::cli::main()
}
