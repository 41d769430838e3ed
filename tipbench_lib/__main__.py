"""``python -m tipbench_lib COMMAND ...``: the ``tipbench`` command without its script."""

import sys

from tipbench_lib.cli import main

sys.exit(main())
