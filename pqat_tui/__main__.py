import sys

from pqat_tui.launch import main

sys.exit(main())
