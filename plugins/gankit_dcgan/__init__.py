"""Built-in gankit plugin: dcgan (filled in below)."""
