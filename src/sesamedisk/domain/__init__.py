"""Pure model and algorithms: no I/O, no frameworks."""
