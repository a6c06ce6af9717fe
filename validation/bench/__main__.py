"""``python -m refsde_validation.bench [--quick] [--backend B] [--out DIR]``: ``refsde validate --bench``."""

import sys

from .run import main

sys.exit(main())
