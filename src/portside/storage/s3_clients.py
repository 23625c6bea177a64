"""The S3 driver's two clients: the one that moves bytes, and the readiness probe's.

The data client keeps botocore's retries (a request that fails once is usually fine the second
time). The probe's makes one attempt with short timeouts: `/readyz` must answer within its
deadline, and with retries and backoff an unreachable store took 4.5-13 s to report.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import ClientError

from portside.storage.s3_batch import error_code

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client

    from portside.storage.s3 import S3Options

__all__ = ["bucket_readiness", "create_client"]


def create_client(
    options: S3Options, probe: bool = False
) -> contextlib.AbstractAsyncContextManager[S3Client]:
    """A client for `options`; with `probe`, one attempt and short timeouts, few connections."""
    if probe:
        config = AioConfig(
            signature_version="s3v4",
            s3={"addressing_style": options.addressing_style},
            max_pool_connections=2,
            connect_timeout=0.5,
            read_timeout=0.8,
            retries={"total_max_attempts": 1},
        )
    else:
        config = AioConfig(
            signature_version="s3v4",
            s3={"addressing_style": options.addressing_style},
            max_pool_connections=options.max_connections,
        )
    return get_session().create_client(
        "s3",
        region_name=options.region,
        endpoint_url=options.endpoint_url,
        aws_access_key_id=options.access_key_id,
        aws_secret_access_key=options.secret_access_key,
        aws_session_token=options.session_token,
        config=config,
    )


async def bucket_readiness(client: S3Client, bucket: str) -> str:
    """ "ok", or what keeps a node from using `bucket` (it does not exist, access is denied);
    raises whatever the client raises when the store does not answer."""
    try:
        await client.head_bucket(Bucket=bucket)
    except ClientError as exc:
        code = error_code(exc)
        if code in {"404", "NoSuchBucket", "NotFound"}:
            return f"bucket {bucket} does not exist"
        if code in {"403", "AccessDenied", "Forbidden"}:
            return f"access to bucket {bucket} is denied"
        return f"unavailable ({code[:40]})"
    return "ok"
