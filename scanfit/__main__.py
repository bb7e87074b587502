"""``python -m scanfit``: the command line (see `scanfit.cli`)."""
from scanfit.cli import main

raise SystemExit(main())
