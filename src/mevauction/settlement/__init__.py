"""Settlement: the money flows that carry out a Boost+ report (Boost+ paper Fig. 3 (4))."""
