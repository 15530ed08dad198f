"""Settings for the test run: the same settings with faster password hashing and a throwaway var/."""

import os
import tempfile

os.environ.setdefault("HUB_VAR_DIR", tempfile.mkdtemp(prefix="hub-test-var-"))

from hub.settings import *  # noqa: F403
from hub.settings import DATABASES, VAR_DIR

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Tests drive processing themselves; the end-to-end test switches the fast path on.
HUB_INBOUND_FAST_PATH = False
if DATABASES["default"]["ENGINE"] == "hub.db.sqlite3" and not os.environ.get("DATABASE_URL"):
    DATABASES["default"]["NAME"] = str(VAR_DIR / "test.sqlite3")
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}
