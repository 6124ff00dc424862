import os

# Local workers answer inspection within milliseconds, but a loaded 2-core machine can take
# longer; 2 s keeps the "no worker answering" checks quick without flakiness. Set before any
# process starts.
os.environ.setdefault("LMS_ADMIN_INSPECT_TIMEOUT", "2")
