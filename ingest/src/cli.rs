//! Argument parsing that every binary shares: `--help` and `--version` as clap prints them,
//! any other clap error as one line with exit 2 (see [`crate::display::clap_line`]).

use crate::display;

/// The arguments, or exit: `--help` and `--version` print as usual (exit 0); a bad flag or
/// value is one line (exit 2).
pub fn parse_args<C: clap::Parser>() -> C {
    C::try_parse().unwrap_or_else(|e| {
        let help =
            !e.use_stderr() || e.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand;
        if help {
            e.exit();
        }
        eprintln!("{}", display::clap_line(&e.render().to_string()));
        std::process::exit(display::EXIT_USAGE);
    })
}
