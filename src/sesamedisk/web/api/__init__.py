"""Seafile's api2 (for seaf-cli and GUI clients) and sesamedisk's own JSON API."""
