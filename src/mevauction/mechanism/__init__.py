"""The Boost+ mechanism (seed 004 Fig. 3) and its report."""
