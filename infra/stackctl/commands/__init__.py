"""One module per `sheetflow` subcommand. Each exposes `register(subparsers)`, which adds its
parser and sets `handler` (a function of the parsed arguments returning an exit code)."""
