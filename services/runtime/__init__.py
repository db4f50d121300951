"""Helpers every service's runtime shares."""
