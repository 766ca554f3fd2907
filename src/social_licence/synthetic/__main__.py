"""`python -m social_licence.synthetic`: write the example parents' survey (see :mod:`.parents`)."""

import sys

from .parents import main

sys.exit(main())
