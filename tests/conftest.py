"""Shared pytest setup: registers the fixture plugins each test layer uses."""

pytest_plugins = [
    "tests.plugins.peers",
    "tests.plugins.database",
    "tests.plugins.app",
    "tests.plugins.server",
    "tests.plugins.seafcli",
    "tests.plugins.ceph",
    "tests.plugins.browser",
]
