"""Code that runs inside the algorithm sandbox (stdlib only); data files of the host, never imported by it."""
