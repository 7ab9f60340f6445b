"""The Seafile sync protocol under /seafhttp, as seaf-daemon speaks it."""
