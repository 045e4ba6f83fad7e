"""Suite-wide: the gateway's default data directory points into a temporary directory, never the user's home.

Set at import time, before any app (in process or as a subprocess, which inherits the environment) resolves it.
"""

from __future__ import annotations

import os
import tempfile

os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix="gw-tests-data-")
