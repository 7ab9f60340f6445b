"""Shared pytest setup: registers the fixture plugins each test layer uses."""

pytest_plugins = [
    "tests.plugins.peers",
    "tests.plugins.database",
]
