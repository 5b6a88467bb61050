"""Subcommands of the mnemos CLI, one module each."""
