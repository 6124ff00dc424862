import os

# Local workers answer inspection within milliseconds; a shorter wait keeps the
# "no worker answering" and "worker gone" checks quick. Set before any process starts.
os.environ.setdefault("LMS_ADMIN_INSPECT_TIMEOUT", "0.5")
