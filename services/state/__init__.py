"""The state service: owns runs, states, cancellation history and the outbox."""
