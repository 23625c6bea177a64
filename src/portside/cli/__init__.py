"""The `portside` command line."""
