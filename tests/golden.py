"""The one switch that rewrites golden files: ``ORGCTL_UPDATE_GOLDEN=1`` (then review the diff)."""

from __future__ import annotations

import os

UPDATE = os.environ.get("ORGCTL_UPDATE_GOLDEN") == "1"
"""Write what the code produces now instead of comparing with the golden file."""
