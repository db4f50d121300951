"""The `cancelbus` command line."""
