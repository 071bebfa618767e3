"""Baseline builders that behave like Flashbots rbuilder's (DESIGN.md, "rbuilder baseline
behaviour"): the two ordering builders (``mgp-ordering``, ``mp-ordering``) and the
parallel builder. Seed 004 § 5.4 judges the default algorithm against exactly these.
"""
