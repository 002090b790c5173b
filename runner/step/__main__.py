"""``python -m runner.step``: run one step attempt."""

import sys

from runner.privacy import restrict_umask
from runner.step.main import main

# Outputs, logs and traces the step writes under the home are the owner's only.
restrict_umask()
sys.exit(main())
