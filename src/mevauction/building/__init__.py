"""Block building: conflict groups, the default algorithm (Boost+ paper Alg. 1) and
builder plug-ins (rbuilder-style baselines)."""
