"""Sharing with the people service: accounts, the people link, shared data sources,
the importSharedAudience and exportSharedAudience jobs, matching and the audit trail.

Above profiles (it reads and keys them), below messaging and workflows.
"""
