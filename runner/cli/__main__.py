"""``python -m runner.cli``: the same as the ``runner`` console script."""

from runner.cli import main

main()
