"""Thin typer commands, one module per subcommand (`HELP`, `command`): parse options, call a library function, print."""
