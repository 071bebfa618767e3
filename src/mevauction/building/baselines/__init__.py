"""Baseline builders that behave like Flashbots rbuilder's (docs/building.md, "rbuilder's
builders"): the two ordering builders (``mgp-ordering``, ``mp-ordering``) and the parallel
builder. The Boost+ paper § 5.4 judges the default algorithm against exactly these.
"""
