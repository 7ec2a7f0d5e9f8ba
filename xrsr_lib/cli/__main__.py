"""``python -m xrsr_lib.cli``: the ``xrsr`` command."""

import sys

from xrsr_lib.cli import main

sys.exit(main())
