"""Built-in gankit plugin: datasets (filled in below)."""
