//! The `kgrace` binary: the command line over the built-in harnesses.

fn main() -> std::process::ExitCode {
    kgrace::cli::main(kgrace::harness::all())
}
