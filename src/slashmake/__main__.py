"""``python -m slashmake``: the same as the ``slashmake`` command."""

from slashmake.interfaces.cli import main

main()
