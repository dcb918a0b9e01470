"""`python -m protocol_dsl`."""

import sys

from .cli import main

sys.exit(main())
