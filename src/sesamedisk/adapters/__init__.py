"""Adapters: the concrete implementations of the ports (databases, object stores)."""
