"""Prefect flows: the one place that wires the stages together."""
