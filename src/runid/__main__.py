"""``python -m runid`` is the ``runid`` command."""

from .cli import main

main()
