"""``python -m runner.step``: run one step attempt."""

import sys

from runner.step.main import main

sys.exit(main())
