"""Load benchmarks: each module is a command (`python -m benchmarks.<name>`) that prints figures.

Figures are measurements of the machine they ran on; nothing here passes or fails.
"""
