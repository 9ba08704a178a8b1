"""``python -m perovskite_tb`` → the CLI."""

from .cli import main

raise SystemExit(main())
