"""Thin Lambda entry points: observability, configuration, then one call into the use case."""
