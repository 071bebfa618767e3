"""Block building: conflict groups, the default algorithm (seed 004 Alg. 1) and
builder plug-ins (rbuilder-style baselines)."""
