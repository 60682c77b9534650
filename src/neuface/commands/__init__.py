"""Thin typer commands, one module per subcommand: parse options, call one library function, print."""
