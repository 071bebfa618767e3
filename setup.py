"""The compiled core of the amm world (issue 15, item 4); everything else is in pyproject.toml.

``optional=True``: without a C compiler the install still succeeds and the amm world runs
its pure-Python cursor (mevauction.worlds.amm.compiled says which path runs and why).
"""

from setuptools import Extension, setup

CORE = "src/mevauction/worlds/amm/"
setup(ext_modules=[Extension("mevauction.worlds.amm._core", [CORE + "_core.c"],
                             depends=[CORE + h for h in ("_core_arith.h", "_core_exec.h", "_core_sequences.h", "_core_walk.h")],
                             extra_compile_args=["-O2", "-Wall"], optional=True)])
