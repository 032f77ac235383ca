//! The `provlog` binary: see `provlog --help`.

/// glibc's allocator was a sixth of the server's CPU under load (many small,
/// short-lived JSON values across threads); mimalloc measured faster
/// (BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    provlog::cli::main()
}
