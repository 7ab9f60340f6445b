"""Streaming writes into the S3 object store: small objects in one PUT, large ones multipart."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING, cast

from sesamedisk.adapters.objects.hashing import HashingWriter
from sesamedisk.errors import InvalidRequest, SesameError

if TYPE_CHECKING:
    from types_boto3_s3.client import S3Client
    from types_boto3_s3.type_defs import CompletedPartTypeDef

MIN_PART_SIZE = 5 * 1024 * 1024
"""S3 refuses parts smaller than this (except the last one of an upload)."""

Boundary = Callable[[str], contextlib.AbstractContextManager[None]]
"""boundary(what): a context that turns library errors into sesamedisk errors."""
PutOnce = Callable[[str, bytes], None]
"""put_once(object_id, data): a conditional single PUT where an existing object wins."""
FinalKey = Callable[[str], str]
"""final_key(object_id): the object's key in the bucket (validates the id)."""


class S3ObjectWriter(HashingWriter):
    """Hashes streamed bytes and buffers up to one part; nothing is visible before commit.

    An object that fits in one part is committed with a single conditional PUT. A larger one
    is streamed part by part into a multipart upload under a temporary key (the final key
    depends on the digest, known only at the end); commit completes it, then copies it
    server-side, part by part, into a second multipart upload on the final key that is
    completed with `If-None-Match: *`, so an existing object always wins; the temporary
    object is deleted afterwards. Memory stays below one part plus one `write`.
    """

    def __init__(self, client: S3Client, bucket: str, temp_key: str, part_size: int, *,
                 final_key: FinalKey, put_once: PutOnce, boundary: Boundary) -> None:
        super().__init__()
        self._client = client
        self._bucket = bucket
        self._temp_key = f"{temp_key}{secrets.token_hex(12)}"
        self._part_size = part_size
        self._final_key = final_key
        self._put_once = put_once
        self._boundary = boundary
        self._buffer: bytearray | None = bytearray()
        self._upload_id: str | None = None
        self._parts: list[tuple[int, str, int]] = []  # (number, etag, size)
        self._temp_completed = False

    def _require_open(self) -> bytearray:
        if self._buffer is None:
            raise InvalidRequest("this object writer is already finished")
        return self._buffer

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Hash and buffer `data`, uploading every full part as it fills."""
        buffer = self._require_open()
        view = self._take(data)
        try:
            while len(view):
                room = self._part_size - len(buffer)
                buffer += view[:room]
                view = view[room:]
                if len(buffer) == self._part_size:
                    self._upload_part(buffer)  # sent as is: no copy of the part
                    buffer.clear()
        except SesameError:
            self.abort()
            raise

    def _upload_part(self, chunk: bytearray) -> None:
        with self._boundary(f"uploading a part of {self._temp_key}"):
            if self._upload_id is None:
                self._upload_id = self._client.create_multipart_upload(
                    Bucket=self._bucket, Key=self._temp_key)["UploadId"]
            number = len(self._parts) + 1
            etag = self._client.upload_part(
                Bucket=self._bucket, Key=self._temp_key, UploadId=self._upload_id,
                PartNumber=number, Body=cast(bytes, chunk))["ETag"]  # botocore takes bytearray
        self._parts.append((number, etag, len(chunk)))

    def commit(self, object_id: str) -> None:
        """Publish the bytes under `object_id`; an object already stored there wins."""
        buffer = self._require_open()
        try:
            final_key = self._final_key(object_id)
            if self._upload_id is None:
                self._put_once(object_id, bytes(buffer))
                return
            if buffer:
                self._upload_part(buffer)
            self._complete_temp()
            self._copy_to(final_key)
        finally:
            self.abort()

    def _complete_temp(self) -> None:
        assert self._upload_id is not None
        with self._boundary(f"completing {self._temp_key}"):
            self._client.complete_multipart_upload(
                Bucket=self._bucket, Key=self._temp_key, UploadId=self._upload_id,
                MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e}
                                           for n, e, _ in self._parts]})
        self._upload_id = None
        self._temp_completed = True

    def _copy_to(self, final_key: str) -> None:
        """Server-side copy of the temporary object, completed only if `final_key` is free."""
        with self._boundary(f"publishing {final_key}"):
            upload_id = self._client.create_multipart_upload(
                Bucket=self._bucket, Key=final_key)["UploadId"]
            try:
                parts: list[CompletedPartTypeDef] = []
                start = 0
                for number, _, length in self._parts:
                    copied = self._client.upload_part_copy(
                        Bucket=self._bucket, Key=final_key, UploadId=upload_id,
                        PartNumber=number,
                        CopySource={"Bucket": self._bucket, "Key": self._temp_key},
                        CopySourceRange=f"bytes={start}-{start + length - 1}")
                    parts.append({"PartNumber": number,
                                  "ETag": copied["CopyPartResult"].get("ETag", "")})
                    start += length
                self._client.complete_multipart_upload(
                    Bucket=self._bucket, Key=final_key, UploadId=upload_id,
                    MultipartUpload={"Parts": parts}, IfNoneMatch="*")
                upload_id = ""
            except Exception as exc:
                if not is_precondition_failure(exc):
                    raise
            finally:
                if upload_id:
                    with contextlib.suppress(Exception):
                        self._client.abort_multipart_upload(
                            Bucket=self._bucket, Key=final_key, UploadId=upload_id)

    def abort(self) -> None:
        """Drop the buffer, cancel the multipart upload and delete any temporary object."""
        self._buffer = None
        self._parts = []
        if self._upload_id is not None:
            upload_id, self._upload_id = self._upload_id, None
            with contextlib.suppress(Exception):
                self._client.abort_multipart_upload(
                    Bucket=self._bucket, Key=self._temp_key, UploadId=upload_id)
        if self._temp_completed:
            self._temp_completed = False
            with contextlib.suppress(Exception):
                self._client.delete_object(Bucket=self._bucket, Key=self._temp_key)


def is_precondition_failure(exc: BaseException) -> bool:
    """True for S3's answer to a conditional write on a key that already holds an object."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return False
    code = str(response.get("Error", {}).get("Code", ""))
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return code == "PreconditionFailed" or status == 412
