"""Adapters to the infrastructure runs live on — local processes, Docker engines, Kubernetes
clusters — shared by workers (which stop runs) and launchers (which start them)."""
