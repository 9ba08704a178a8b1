"""``python -m perovskite_tb`` → the CLI."""

from perovskite_tb.app.cli import main

raise SystemExit(main())
