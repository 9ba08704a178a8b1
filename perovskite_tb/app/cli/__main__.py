"""``python -m perovskite_tb.app.cli`` → the CLI (same as ``python -m perovskite_tb``)."""

from perovskite_tb.app.cli import main

raise SystemExit(main())
