use clap::Parser;

fn main() {
    let cli = promote::cli::Cli::parse();
    let (quiet, verbose) = (cli.quiet, cli.verbose);
    let (dir, request) = cli.into_request();
    promote::ui::configure(promote::ui::Mode {
        quiet,
        verbose,
        json: request.json(),
    });
    std::process::exit(promote::run(dir, request));
}
