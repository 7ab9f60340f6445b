"""Streaming writes into the S3 object store: small objects in one PUT, large ones multipart."""

from __future__ import annotations

import contextlib
import io
import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, BinaryIO, cast

from sesamedisk.adapters.objects.hashing import HashingWriter
from sesamedisk.errors import InvalidRequest, SesameError

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer
    from types_boto3_s3.client import S3Client
    from types_boto3_s3.type_defs import CompletedPartTypeDef

MIN_PART_SIZE = 5 * 1024 * 1024
"""S3 refuses parts smaller than this (except the last one of an upload)."""

Boundary = Callable[[str], contextlib.AbstractContextManager[None]]
"""boundary(what): a context that turns library errors into sesamedisk errors."""
PutNew = Callable[[str, "bytes | bytearray | BinaryIO"], None]
"""put_new(key, body): a conditional single PUT where an existing object wins."""
FinalKey = Callable[[str], str]
"""final_key(object_id): the object's key in the bucket (validates the id)."""
ConditionalComplete = Callable[[], bool]
"""Whether the server honours `If-None-Match: *` on CompleteMultipartUpload."""


class S3ObjectWriter(HashingWriter):
    """Hashes streamed bytes and buffers up to one part; nothing is visible before commit.

    An object that fits in one part is committed with a single conditional PUT. A larger one
    is streamed part by part into a multipart upload under a temporary key (the final key
    depends on the digest, known only at the end); commit completes it, then copies it
    server-side, part by part, into a second multipart upload on the final key that is
    completed with `If-None-Match: *`, so an existing object always wins. Servers that ignore
    that condition on a completion (radosgw 16.2) get one conditional PUT streamed from the
    temporary object instead (so at most 5 GiB per object there). The temporary object is
    deleted afterwards. Memory stays below one part plus one `write`.
    """

    def __init__(self, client: S3Client, bucket: str, temp_key: str, part_size: int, *,
                 final_key: FinalKey, put_new: PutNew, boundary: Boundary,
                 conditional_complete: ConditionalComplete) -> None:
        super().__init__()
        self._client = client
        self._bucket = bucket
        self._temp_key = f"{temp_key}{secrets.token_hex(12)}"
        self._part_size = part_size
        self._final_key = final_key
        self._put_new = put_new
        self._boundary = boundary
        self._conditional_complete = conditional_complete
        self._buffer: bytearray | None = bytearray(part_size)
        """One part, allocated once and refilled (growing it piece by piece costs more)."""
        self._filled = 0
        self._upload_id: str | None = None
        self._parts: list[tuple[int, str, int]] = []  # (number, etag, size)
        self._temp_completed = False

    def _require_open(self) -> bytearray:
        if self._buffer is None:
            raise InvalidRequest("this object writer is already finished")
        return self._buffer

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Hash and buffer `data`, uploading a full part once more bytes follow it.

        An object of exactly one part thus stays a single conditional PUT on commit.
        """
        buffer = self._require_open()
        view = self._take(data)
        try:
            while len(view):
                if self._filled == self._part_size:
                    self._upload_part(buffer)  # sent as is: no copy of the part
                    self._filled = 0
                taken = min(self._part_size - self._filled, len(view))
                buffer[self._filled:self._filled + taken] = view[:taken]
                self._filled += taken
                view = view[taken:]
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
            del buffer[self._filled:]  # shrinks in place: the rest is sent without a copy
            if self._upload_id is None:
                self._put_new(final_key, buffer)
                return
            if buffer:
                self._upload_part(buffer)
            self._complete_temp()
            if self._conditional_complete():
                self._copy_to(final_key)
            else:
                self._put_from_temp(final_key)
        finally:
            self.abort()

    def _put_from_temp(self, final_key: str) -> None:
        """One conditional PUT on `final_key`, its body streamed from the temporary object."""
        size = sum(length for _, _, length in self._parts)
        temp = _StoredObject(self._client, self._bucket, self._temp_key, size)
        with io.BufferedReader(temp, 256 * 1024) as body:
            self._put_new(final_key, body)

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


class _StoredObject(io.RawIOBase):
    """A seekable read-only stream over a stored object, fetched with ranged GETs on demand."""

    def __init__(self, client: S3Client, bucket: str, key: str, size: int) -> None:
        super().__init__()
        self._client = client
        self._bucket = bucket
        self._key = key
        self._size = size
        self._position = 0
        self._body: Any = None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET, /) -> int:
        origin = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}
        target = origin[whence] + offset
        if target < 0:
            raise ValueError("negative seek position")
        if target != self._position:
            self._drop_body()
            self._position = target
        return target

    def readinto(self, buffer: WriteableBuffer, /) -> int:
        if self._position >= self._size:
            return 0
        if self._body is None:
            self._body = self._client.get_object(
                Bucket=self._bucket, Key=self._key, Range=f"bytes={self._position}-")["Body"]
        view = memoryview(buffer).cast("B")
        chunk: bytes = self._body.read(min(len(view), self._size - self._position))
        if not chunk:
            raise OSError(f"{self._key} ended at byte {self._position} of {self._size}")
        view[: len(chunk)] = chunk
        self._position += len(chunk)
        return len(chunk)

    def _drop_body(self) -> None:
        if self._body is not None:
            self._body.close()
            self._body = None

    def close(self) -> None:
        self._drop_body()
        super().close()


def is_precondition_failure(exc: BaseException) -> bool:
    """True for S3's answer to a conditional write on a key that already holds an object."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return False
    code = str(response.get("Error", {}).get("Code", ""))
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return code == "PreconditionFailed" or status == 412


def probe_conditional_complete(client: S3Client, bucket: str, key: str) -> bool:
    """Whether S3 refuses `If-None-Match: *` completions on an existing `key` (then removed)."""
    client.put_object(Bucket=bucket, Key=key, Body=b"")
    upload_id = client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    try:
        etag = client.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=1,
                                  Body=b"probe")["ETag"]
        client.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=upload_id, IfNoneMatch="*",
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
    except Exception as exc:
        if is_precondition_failure(exc):
            return True
        raise
    finally:
        with contextlib.suppress(Exception):  # gone already when the completion went through
            client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
        client.delete_object(Bucket=bucket, Key=key)
    return False
