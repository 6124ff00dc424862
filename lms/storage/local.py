"""Local folder storage: the embedded default (`LMS_STORAGE_URL=file:var/storage`).

Objects are plain files under the root. Clients never see paths: the API uploads and
serves them through HMAC-signed, expiring URLs (`lms.storage.signing`, served by
`web/storage_http.py`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from datetime import datetime
from pathlib import Path
from urllib.parse import urlencode

from lms.config import Settings
from lms.storage.base import ObjectInfo, Storage, UploadTarget, check_key
from lms.storage.signing import PUT_PURPOSE, UPLOAD_ROUTE, sign, upload_scope


class LocalStorage(Storage):
    kind = "local"

    def __init__(self, root: Path, *, settings: Settings) -> None:
        self.root = Path(root).resolve()
        self.public_url = settings.public_url.rstrip("/")
        self.settings = settings

    def path(self, key: str) -> Path:
        """The file of `key`; a key that would leave the root is refused."""
        path = (self.root / check_key(key)).resolve()
        if self.root not in path.parents:
            raise ValueError(f"storage key escapes the storage root: {key!r}")
        return path

    def _write(self, key: str, fill) -> None:
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        # Write beside, then rename: a reader sees the old object or the new one, never half.
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        try:
            with os.fdopen(fd, "wb") as handle:
                fill(handle)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def put_file(self, key: str, path: Path, *, content_type: str | None = None) -> None:
        def fill(handle):
            with open(path, "rb") as source:
                shutil.copyfileobj(source, handle, 1024 * 1024)

        self._write(key, fill)

    def put_bytes(self, key: str, data: bytes, *, content_type: str | None = None) -> None:
        self._write(key, lambda handle: handle.write(data))

    def download(self, key: str, path: Path) -> Path:
        source = self.path(key)
        if not source.is_file():
            raise FileNotFoundError(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, path)
        return path

    def read_bytes(self, key: str) -> bytes:
        source = self.path(key)
        if not source.is_file():
            raise FileNotFoundError(key)
        return source.read_bytes()

    def stat(self, key: str) -> ObjectInfo | None:
        path = self.path(key)
        return ObjectInfo(key, path.stat().st_size) if path.is_file() else None

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def list(self, prefix: str) -> list[str]:
        folder = self.path(prefix.rstrip("/")) if prefix.endswith("/") else self.path(prefix).parent
        if not folder.is_dir():
            return []
        keys = (p.relative_to(self.root).as_posix() for p in folder.rglob("*") if p.is_file())
        return sorted(k for k in keys if k.startswith(prefix) and not Path(k).name.startswith("."))

    def delete_prefix(self, prefix: str) -> int:
        count = super().delete_prefix(prefix)
        folder = self.path(prefix.rstrip("/"))
        if folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)  # and the empty folders
        return count

    def upload_target(
        self, key: str, *, content_type: str, size_bytes: int, max_bytes: int, expires_at: datetime
    ) -> UploadTarget:
        expires = int(expires_at.timestamp())
        signature = sign(
            upload_scope(check_key(key), content_type, max_bytes),
            expires,
            purpose=PUT_PURPOSE,
            settings=self.settings,
        )
        query = urlencode({"ct": content_type, "max": max_bytes})
        return UploadTarget(
            url=f"{self.public_url}{UPLOAD_ROUTE}/{expires}/{signature}/{key}?{query}",
            method="PUT",
            headers={"Content-Type": content_type},
            expires_at=expires_at,
        )
