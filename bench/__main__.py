"""Entry point of `python -m bench`; the measurements live in bench.run so worker processes can import them."""

import sys

from bench.run import main

sys.exit(main())
