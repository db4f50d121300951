"""SQL storage of the state service: tables, engine and migrations."""
