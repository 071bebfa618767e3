"""Start an algorithm inside the jail: make mevalgo importable, then run main.py.

The interpreter runs with -I -S (no environment, no site packages, no script
directory on the path), so the one extra import location is set here. Paths are
taken from this file's place (/algo in the jail).
"""
import os
import runpy
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))
runpy.run_path(os.path.join(HERE, "main.py"), run_name="__main__")
