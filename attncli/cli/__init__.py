"""The `attn` command: Typer commands, the fast argument reader, consoles, the entry point. The only
place that knows flag names."""
