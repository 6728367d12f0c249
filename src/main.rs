use clap::Parser;

fn main() {
    let cli = promote::cli::Cli::parse();
    let (dir, request) = cli.into_request();
    std::process::exit(promote::run(dir, request));
}
