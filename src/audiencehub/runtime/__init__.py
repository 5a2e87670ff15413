"""Composition: the servers, the scheduler loop and the demo.

With ``cli/``, the only place that imports both systems: campaign and the
people service meet here as two deployments would, through files and HTTP.
"""
