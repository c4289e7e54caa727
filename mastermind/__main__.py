"""`python -m mastermind` is the `mastermind` command."""

import sys

from mastermind.cli.main import main

sys.exit(main())
