"""HTTP transports: the Seafile sync protocol, api2 and our own JSON API."""
