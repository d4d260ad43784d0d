"""Built-in gankit plugin: regularizers (filled in below)."""
