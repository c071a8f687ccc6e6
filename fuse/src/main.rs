//! The `ozfs` binary. Everything lives in [`cli`]; this file only hands over the exit status.

mod cli;

fn main() {
    std::process::exit(cli::main());
}
