"""``python -m audiencehub``: the same as the ``audiencehub`` command."""

from audiencehub.cli import main

main()
