"""``python -m stations.cli``: the registry commands (without ``serve``)."""

import sys

from stations.cli import main

sys.exit(main())
