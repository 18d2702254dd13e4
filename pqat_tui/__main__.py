import sys

from pqat_tui.cli import main

sys.exit(main())
