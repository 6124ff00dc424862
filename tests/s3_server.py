"""moto's standalone S3 server over HTTP, and the `LMS_*` settings that point Lyceum at it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import boto3
from moto.server import ThreadedMotoServer

from tests.support import free_port


@contextlib.contextmanager
def s3_server(bucket: str) -> Iterator[dict[str, str]]:
    """Start a server with `bucket` in it; yield the environment for API and worker processes."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    env = {
        "LMS_STORAGE_URL": f"s3://{bucket}",
        "LMS_S3_ENDPOINT_URL": endpoint,
        "LMS_S3_REGION": "us-east-1",
        "LMS_S3_ACCESS_KEY_ID": "testing",
        "LMS_S3_SECRET_ACCESS_KEY": "testing",
    }
    boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ).create_bucket(Bucket=bucket)
    try:
        yield env
    finally:
        server.stop()
