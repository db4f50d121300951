"""The embedded default, `cancelbus dev`: every service in one process."""
