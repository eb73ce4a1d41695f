"""The `touchstream` command: one module per command group."""
