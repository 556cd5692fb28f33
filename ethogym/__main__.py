"""``python -m ethogym``: the same command line as the ``ethogym`` script."""

from ethogym.cli import app

app(prog_name="ethogym")
