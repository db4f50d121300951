"""Automations kept by the state service: their rows and SQL (store.py), and the use cases
that change them and tell the automations replicas (use_cases.py)."""
