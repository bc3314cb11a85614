from setuptools import setup

# All metadata lives in pyproject.toml; this file only lets tools that look for a setup.py find it.
setup()
