"""``python -m fer_keras``: see :mod:`fer_keras.cli`."""

import sys

from fer_keras.cli import main

sys.exit(main())
