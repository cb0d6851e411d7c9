"""HTTP without I/O: paths to keys, conditional and range requests, answers."""
