"""The automations service: evaluates users' rules (Prefect 3.9 triggers) and the built-in
per-run max runtime over the events of runs, and sends the commands their firings ask for.

`engine/` holds the pure evaluation (no I/O); the service around it feeds it events and time,
scaled by replicas (one consumer group; every replica knows every rule).
"""
