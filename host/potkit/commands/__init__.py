"""The `potkit` commands, one module each; potkit.cli's table names them.

Each module defines `add_arguments(parser)` (its options) and `run(args)`
(the work; its return value is the exit status, None for 0). options holds
the options several commands share and the argparse adapter of
potkit.validate. Nothing here is imported until potkit.cli chooses a
command, so a command loads only what it uses.
"""
