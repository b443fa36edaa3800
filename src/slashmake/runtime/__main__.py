"""``python -m slashmake.runtime``: the entry point compiled rules call."""

import sys

from slashmake.runtime import main

sys.exit(main())
