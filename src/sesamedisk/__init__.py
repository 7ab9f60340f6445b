"""sesamedisk: a self-hosted team cloud drive that stock Seafile clients sync with."""

__version__ = "0.1.0"
