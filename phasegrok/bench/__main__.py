"""`python -m phasegrok.bench`."""

import sys

from phasegrok.bench.cli import main

sys.exit(main())
