"""`python -m app.cli`: the `scheduler` command."""

import sys

from app.cli import main

sys.exit(main())
