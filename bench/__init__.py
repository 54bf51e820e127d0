"""Benchmarks that run the real supervisord and our superd side by side.

Entry point: ``python bench/run.py [--quick]`` (see ``bench/README.md``).
"""
