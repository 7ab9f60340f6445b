"""ObjectStore adapters: local filesystem, in-memory, and the verifying decorator."""
