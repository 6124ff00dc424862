"""Local folder storage: the embedded default (`LMS_STORAGE_URL=file:var/storage`).

Objects are plain files under the root. Clients never see paths: the API uploads and
serves them through HMAC-signed, expiring URLs (`lms.storage.signing`, served by
`web/storage_http.py`).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
import uuid
from datetime import datetime
from pathlib import Path
from urllib.parse import urlencode

from lms.config import Settings
from lms.storage.base import ObjectInfo, PartInfo, Storage, UploadTarget, check_key
from lms.storage.signing import PUT_PURPOSE, UPLOAD_ROUTE, multipart_scope, sign, upload_scope

_UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")


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

    # --- resumable uploads: parts are files under `.uploads/{id}/` (never listed as keys) ---

    def multipart_dir(self, upload_id: str) -> Path:
        if not _UPLOAD_ID.match(upload_id or ""):
            raise FileNotFoundError(upload_id)
        return self.root / ".uploads" / upload_id

    def part_path(self, upload_id: str, number: int) -> Path:
        return self.multipart_dir(upload_id) / f"{number:05d}"

    def create_multipart(self, key: str, *, content_type: str) -> str:
        check_key(key)
        upload_id = uuid.uuid4().hex
        self.multipart_dir(upload_id).mkdir(parents=True)
        return upload_id

    def part_target(
        self,
        key: str,
        upload_id: str,
        number: int,
        *,
        offset: int,
        size_bytes: int,
        part_bytes: int,
        total_bytes: int,
        content_type: str,
        expires_at: datetime,
    ) -> UploadTarget:
        # One signature for the whole upload; `Content-Range` says which part a PUT carries.
        expires = int(expires_at.timestamp())
        scope = multipart_scope(check_key(key), upload_id, content_type, total_bytes, part_bytes)
        signature = sign(scope, expires, purpose=PUT_PURPOSE, settings=self.settings)
        query = urlencode(
            {"upload": upload_id, "ct": content_type, "size": total_bytes, "part": part_bytes}
        )
        end = offset + size_bytes - 1
        return UploadTarget(
            url=f"{self.public_url}{UPLOAD_ROUTE}/{expires}/{signature}/{key}?{query}",
            method="PUT",
            headers={
                "Content-Type": content_type,
                "Content-Range": f"bytes {offset}-{end}/{total_bytes}",
            },
            expires_at=expires_at,
        )

    def list_parts(self, key: str, upload_id: str) -> list[PartInfo]:
        folder = self.multipart_dir(upload_id)
        if not folder.is_dir():
            raise FileNotFoundError(upload_id)
        parts = []
        for path in sorted(folder.iterdir()):
            if path.name.isdigit():
                stat = path.stat()
                tag = hashlib.sha256(f"{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()
                parts.append(PartInfo(int(path.name), stat.st_size, tag[:32]))
        return parts

    def complete_multipart(self, key: str, upload_id: str, parts: list[PartInfo]) -> None:
        def fill(handle):
            for part in parts:
                with open(self.part_path(upload_id, part.number), "rb") as source:
                    shutil.copyfileobj(source, handle, 1024 * 1024)

        self._write(key, fill)
        shutil.rmtree(self.multipart_dir(upload_id), ignore_errors=True)

    def abort_multipart(self, key: str, upload_id: str) -> None:
        try:
            shutil.rmtree(self.multipart_dir(upload_id), ignore_errors=True)
        except FileNotFoundError:
            pass
