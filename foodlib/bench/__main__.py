"""`python -m foodlib.bench`: see foodlib/bench/__init__.py."""
import sys

from foodlib.bench.cli import main

sys.exit(main())
