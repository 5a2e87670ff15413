"""Targeting workflows: the YAML document, the targeting language, the runner,
Save audience and schedules. The top of campaign's chain of sub-domains.
"""
