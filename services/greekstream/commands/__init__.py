"""One module per `greekstream` subcommand (see greekstream/cli.py)."""
