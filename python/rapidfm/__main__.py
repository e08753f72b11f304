"""`python -m rapidfm ...` runs the command line."""

import sys

from rapidfm._console import main

sys.exit(main())
