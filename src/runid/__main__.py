"""``python -m runid`` is the ``runid`` command."""

from ._cli import main

main()
