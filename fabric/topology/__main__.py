"""``python -m vibetensor.fabric.topology`` runs the ``vibetensor-topo`` CLI."""

from .cli import main

raise SystemExit(main())
