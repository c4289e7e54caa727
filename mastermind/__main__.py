"""`python -m mastermind` is the `mastermind` command."""

import sys

from mastermind.cli import main

sys.exit(main())
