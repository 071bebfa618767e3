"""Start an algorithm inside the jail: make mevalgo importable, then run main.py.

The interpreter runs with -I -S (no environment, no site packages, no script
directory on the path), so the one extra import location is set here. Paths are
taken from this file's place (/algo in the jail). exec rather than runpy: runpy's
imports cost a few milliseconds of every run's start.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))
MAIN = os.path.join(HERE, "main.py")
with open(MAIN, "rb") as f:
    code = compile(f.read(), MAIN, "exec")
exec(code, {"__name__": "__main__", "__file__": MAIN, "__builtins__": __builtins__})
