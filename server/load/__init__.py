"""``switchboard load``: drive a running server like a busy contact center."""
