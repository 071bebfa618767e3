"""Settlement: the money flows that carry out a Boost+ report (seed 004 Fig. 3 (4))."""
