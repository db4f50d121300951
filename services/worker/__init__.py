"""Infrastructure workers: claim cancellation requests for their kind and scope, stop the run."""
