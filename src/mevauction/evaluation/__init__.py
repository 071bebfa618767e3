"""Evaluation: the comparison harness behind ``mevauction bench``, its summary and plots."""
