"""cancelbus services: one subpackage per deployable, plus transport, client, CLI and UI."""
