"""`python -m rapidfm ...` runs the command line."""

import sys

from rapidfm.cli import main

sys.exit(main())
