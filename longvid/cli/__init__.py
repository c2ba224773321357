"""The thin typer CLI: one module per command, joined in main.py. Each command converts its
options into arguments of one library function and calls it; data goes to stdout, progress and
errors to stderr."""
