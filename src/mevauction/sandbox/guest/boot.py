"""Start an algorithm inside the jail: make mevalgo importable, then run main.py.

The interpreter runs with -I -S (no environment, no site packages, no script
directory on the path), so the one extra import location is set here.
"""
import runpy
import sys

sys.path.insert(0, "/algo/lib")
runpy.run_path("/algo/main.py", run_name="__main__")
