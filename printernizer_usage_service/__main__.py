"""`python -m printernizer_usage_service` runs the same command line as `printernizer-usage`."""

from .cli import main

raise SystemExit(main())
