"""Campaign profiles: the field catalogue, row validation, the store and file import.

The lowest layer of campaign: it imports no other campaign sub-package.
"""
