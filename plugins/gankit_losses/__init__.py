"""Built-in gankit plugin: losses (filled in below)."""
