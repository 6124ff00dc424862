"""S3 (or any S3-compatible store) through boto3: `LMS_STORAGE_URL=s3://bucket[/prefix]`.

`LMS_S3_ENDPOINT_URL` points at another implementation (MinIO, Ceph, moto in tests);
credentials come from `LMS_S3_ACCESS_KEY_ID`/`LMS_S3_SECRET_ACCESS_KEY` or boto3's usual
chain. Uploads from clients are presigned PUTs signed for one content type and length;
large server-side uploads go multipart (boto3's managed transfer above a threshold).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from lms.models import utcnow
from lms.storage.base import (
    ObjectInfo,
    PartInfo,
    Storage,
    StorageError,
    UploadTarget,
    check_key,
    guess_type,
)

MAX_PRESIGN_SECONDS = 7 * 24 * 3600  # SigV4 presigned URLs cannot live longer


class S3Storage(Storage):
    kind = "s3"

    def __init__(
        self,
        bucket: str,
        *,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        multipart_threshold: int = 64 * 1024 * 1024,
    ) -> None:
        import boto3
        from boto3.s3.transfer import TransferConfig
        from botocore.config import Config

        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.client = boto3.client(
            "s3",
            endpoint_url=endpoint_url or None,
            region_name=region,
            aws_access_key_id=access_key_id or None,
            aws_secret_access_key=secret_access_key or None,
            # Path-style addressing works with every S3-compatible server; SigV4 everywhere.
            config=Config(
                signature_version="s3v4",
                s3={"addressing_style": "path"},
                retries={"max_attempts": 5, "mode": "standard"},
            ),
        )
        self.transfer = TransferConfig(
            multipart_threshold=multipart_threshold,
            multipart_chunksize=max(multipart_threshold // 2, 5 * 1024 * 1024),
        )

    def _key(self, key: str) -> str:
        return self.prefix + check_key(key)

    def _call(self, what: str, key: str, fn, *args, **kwargs):
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return fn(*args, **kwargs)
        except ClientError as error:
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if status == 404 or error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise FileNotFoundError(key) from None
            raise StorageError(f"S3 {what} of {key} failed: {error}") from error
        except BotoCoreError as error:
            raise StorageError(f"S3 {what} of {key} failed: {error}") from error

    def put_file(self, key: str, path: Path, *, content_type: str | None = None) -> None:
        extra = {"ContentType": content_type or guess_type(key)}
        self._call(
            "upload",
            key,
            self.client.upload_file,
            str(path),
            self.bucket,
            self._key(key),
            ExtraArgs=extra,
            Config=self.transfer,
        )

    def put_bytes(self, key: str, data: bytes, *, content_type: str | None = None) -> None:
        self._call(
            "put",
            key,
            self.client.put_object,
            Bucket=self.bucket,
            Key=self._key(key),
            Body=data,
            ContentType=content_type or guess_type(key),
        )

    def download(self, key: str, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._call(
            "download",
            key,
            self.client.download_file,
            self.bucket,
            self._key(key),
            str(path),
            Config=self.transfer,
        )
        return path

    def read_bytes(self, key: str) -> bytes:
        response = self._call(
            "get", key, self.client.get_object, Bucket=self.bucket, Key=self._key(key)
        )
        return response["Body"].read()

    def stat(self, key: str) -> ObjectInfo | None:
        try:
            head = self._call(
                "head", key, self.client.head_object, Bucket=self.bucket, Key=self._key(key)
            )
        except FileNotFoundError:
            return None
        return ObjectInfo(key, int(head["ContentLength"]), head.get("ContentType"))

    def delete(self, key: str) -> None:
        self._call("delete", key, self.client.delete_object, Bucket=self.bucket, Key=self._key(key))

    def list(self, prefix: str) -> list[str]:
        keys: list[str] = []
        paginator = self.client.get_paginator("list_objects_v2")
        pages = self._call(
            "list",
            prefix,
            lambda: list(paginator.paginate(Bucket=self.bucket, Prefix=self._key(prefix))),
        )
        for page in pages:
            keys += [item["Key"][len(self.prefix) :] for item in page.get("Contents", [])]
        return sorted(keys)

    def delete_prefix(self, prefix: str) -> int:
        if not prefix.endswith("/"):
            raise ValueError("a prefix must end with '/'")
        keys = self.list(prefix)
        for start in range(0, len(keys), 1000):  # DeleteObjects takes 1000 keys per call
            batch = [{"Key": self._key(k)} for k in keys[start : start + 1000]]
            self._call(
                "delete",
                prefix,
                self.client.delete_objects,
                Bucket=self.bucket,
                Delete={"Objects": batch, "Quiet": True},
            )
        return len(keys)

    def upload_target(
        self, key: str, *, content_type: str, size_bytes: int, max_bytes: int, expires_at: datetime
    ) -> UploadTarget:
        # Signing Content-Length makes S3 refuse a body of any other size, so the declared
        # size (already checked against the limit) is the most the client can store.
        url = self.client.generate_presigned_url(
            "put_object",
            Params={
                "Bucket": self.bucket,
                "Key": self._key(key),
                "ContentType": content_type,
                "ContentLength": size_bytes,
            },
            ExpiresIn=self._seconds_until(expires_at),
            HttpMethod="PUT",
        )
        return UploadTarget(
            url=url, method="PUT", headers={"Content-Type": content_type}, expires_at=expires_at
        )

    def create_multipart(self, key: str, *, content_type: str) -> str:
        created = self._call(
            "multipart create",
            key,
            self.client.create_multipart_upload,
            Bucket=self.bucket,
            Key=self._key(key),
            ContentType=content_type,
        )
        return created["UploadId"]

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
        # The signed Content-Length makes S3 refuse a part of any other size.
        url = self.client.generate_presigned_url(
            "upload_part",
            Params={
                "Bucket": self.bucket,
                "Key": self._key(key),
                "UploadId": upload_id,
                "PartNumber": number,
                "ContentLength": size_bytes,
            },
            ExpiresIn=self._seconds_until(expires_at),
            HttpMethod="PUT",
        )
        return UploadTarget(url=url, method="PUT", headers={}, expires_at=expires_at)

    def list_parts(self, key: str, upload_id: str) -> list[PartInfo]:
        paginator = self.client.get_paginator("list_parts")
        pages = self._call(
            "multipart list",
            key,
            lambda: list(
                paginator.paginate(Bucket=self.bucket, Key=self._key(key), UploadId=upload_id)
            ),
        )
        return [
            PartInfo(int(part["PartNumber"]), int(part["Size"]), part["ETag"])
            for page in pages
            for part in page.get("Parts", [])
        ]

    def complete_multipart(self, key: str, upload_id: str, parts: list[PartInfo]) -> None:
        self._call(
            "multipart complete",
            key,
            self.client.complete_multipart_upload,
            Bucket=self.bucket,
            Key=self._key(key),
            UploadId=upload_id,
            MultipartUpload={"Parts": [{"ETag": p.etag, "PartNumber": p.number} for p in parts]},
        )

    def abort_multipart(self, key: str, upload_id: str) -> None:
        try:
            self._call(
                "multipart abort",
                key,
                self.client.abort_multipart_upload,
                Bucket=self.bucket,
                Key=self._key(key),
                UploadId=upload_id,
            )
        except FileNotFoundError:
            pass  # already gone

    def presigned_get(
        self, key: str, *, expires_at: datetime, content_disposition: str | None = None
    ) -> str:
        params = {"Bucket": self.bucket, "Key": self._key(key)}
        if content_disposition:
            # Signed into the URL: S3 answers with these headers whatever the object stored.
            params["ResponseContentDisposition"] = content_disposition
            params["ResponseContentType"] = guess_type(key)
        return self.client.generate_presigned_url(
            "get_object", Params=params, ExpiresIn=self._seconds_until(expires_at)
        )

    @staticmethod
    def _seconds_until(expires_at: datetime) -> int:
        return max(1, min(MAX_PRESIGN_SECONDS, int((expires_at - utcnow()).total_seconds())))
