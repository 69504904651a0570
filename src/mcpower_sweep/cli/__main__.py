"""``python -m mcpower_sweep.cli``: the same as the ``mcpower-sweep`` command."""

from . import main

main()
