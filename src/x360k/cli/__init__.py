"""The ``x360k`` command line: one module per command."""
