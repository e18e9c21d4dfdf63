"""One module per `crkd` subcommand: HELP is in cli.COMMANDS; each has add_arguments and run."""
