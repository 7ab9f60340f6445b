"""Use cases: each checks permission, then orchestrates domain and ports."""
