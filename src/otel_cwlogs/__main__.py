"""``python -m otel_cwlogs check``: see :mod:`otel_cwlogs.check`."""

from __future__ import annotations

import sys

from .check import main

sys.exit(main())
