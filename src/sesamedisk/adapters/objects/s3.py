"""ObjectStore on an S3 bucket (boto3): conditional PUTs keep objects write-once."""

from __future__ import annotations

import datetime as dt
import io
import secrets
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, BinaryIO, cast

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from sesamedisk.adapters.objects.keys import (
    OBJECT_ID_PATTERN,
    SCOPE_PATTERN,
    validate_key,
    validate_kind,
    validate_scope,
)
from sesamedisk.adapters.objects.s3_writer import (
    MIN_PART_SIZE,
    S3ObjectWriter,
    is_precondition_failure,
    probe_conditional_complete,
)
from sesamedisk.errors import InvalidRequest, ObjectNotFound, SesameError, Unavailable
from sesamedisk.ports.objects import ObjectKind, ObjectStat

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer
    from types_boto3_s3.client import S3Client
    from types_boto3_s3.type_defs import ObjectTypeDef

DEFAULT_PART_SIZE = 8 * 1024 * 1024 + 64 * 1024
"""Just over the largest block clients cut (8 MiB): a block, also an encrypted one (padding
and IV add a few bytes), is one conditional PUT, never a multipart upload plus a copy."""
INCOMING = ".incoming/"
"""Key folder (under the prefix) of large streamed objects before they are published."""
CONFLICT_RETRIES = 3
"""How often `put` retries when S3 reports a concurrent conditional write (409)."""
HEAD_THREADS = 16
"""Concurrent HEAD requests `missing` issues for a batch of ids."""
_NOT_FOUND = frozenset({"404", "NoSuchKey", "NotFound"})
_DENIED = frozenset({"403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch",
                     "InvalidToken", "ExpiredToken", "AllAccessDisabled"})


def _unavailable(exc: BaseException, what: str, endpoint: str) -> SesameError:
    """The sesamedisk error for a library error raised while doing `what`."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code in _NOT_FOUND:
            return ObjectNotFound(f"{what}: no such object")
        if code in _DENIED or status == 403:
            return Unavailable(f"S3 access denied at {endpoint} while {what} ({code}); "
                               "check the access key, secret and bucket policy")
        if code == "NoSuchBucket":
            return Unavailable(f"S3 bucket missing at {endpoint} while {what}")
        return Unavailable(f"S3 error at {endpoint} while {what}: {code or status} "
                           f"{error.get('Message', '')}".rstrip())
    return Unavailable(f"S3 endpoint {endpoint} unreachable while {what}: "
                       f"{type(exc).__name__}")


def _is_conflict(exc: ClientError) -> bool:
    return str(exc.response.get("Error", {}).get("Code", "")) == "ConditionalRequestConflict"


class _S3Body(io.RawIOBase):
    """A GET response body whose read errors become sesamedisk errors."""

    def __init__(self, body: Any, store: S3ObjectStore, what: str) -> None:
        super().__init__()
        self._body = body
        self._store = store
        self._what = what

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer, /) -> int:
        view = memoryview(buffer).cast("B")
        with self._store.boundary(self._what):
            chunk: bytes = self._body.read(len(view))
        view[: len(chunk)] = chunk
        return len(chunk)

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()


class S3ObjectStore:
    """Objects under `<prefix><scope>/<kind>/<id[:2]>/<id[2:]>` in one bucket.

    `put` and streamed commits are conditional (`If-None-Match: *`), so the first bytes
    stored under a key win even between racing servers. An acknowledged S3 write is durable,
    so `flush` has nothing to do. Crashed large uploads leave parts under `.incoming/`;
    `sweep_incoming` (or a bucket lifecycle rule) removes them.
    """

    def __init__(self, bucket: str, *, endpoint_url: str, access_key: str, secret_key: str,
                 region: str = "us-east-1", prefix: str = "",
                 part_size: int = DEFAULT_PART_SIZE, max_attempts: int = 3,
                 connect_timeout: float = 5.0, read_timeout: float = 60.0) -> None:
        if not access_key or not secret_key:
            raise ValueError("S3 credentials must be given explicitly")
        if prefix and not prefix.endswith("/"):
            raise ValueError("the S3 key prefix must be empty or end with '/'")
        if part_size < MIN_PART_SIZE:
            raise ValueError(f"the S3 part size must be at least {MIN_PART_SIZE} bytes")
        self.bucket = bucket
        self.prefix = prefix
        self.endpoint_url = endpoint_url
        self.part_size = part_size
        self._probe_lock = threading.Lock()
        self._completes_conditionally: bool | None = None
        config = Config(s3={"addressing_style": "path"}, connect_timeout=connect_timeout,
                        read_timeout=read_timeout, max_pool_connections=HEAD_THREADS * 2,
                        retries={"mode": "standard", "max_attempts": max_attempts})
        self.client: S3Client = boto3.session.Session().client(
            "s3", endpoint_url=endpoint_url, aws_access_key_id=access_key,
            aws_secret_access_key=secret_key, region_name=region, config=config)

    def ensure_bucket(self) -> None:
        """Create the bucket when it does not exist yet (config `create_bucket`)."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
            return
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket"):
                raise _unavailable(exc, f"checking bucket {self.bucket}",
                                   self.endpoint_url) from exc
        with self.boundary(f"creating bucket {self.bucket}"):
            self.client.create_bucket(Bucket=self.bucket)

    @contextmanager
    def boundary(self, what: str) -> Iterator[None]:
        """Turn boto3/botocore errors raised inside into ObjectNotFound or Unavailable."""
        try:
            yield
        except (ClientError, BotoCoreError, OSError) as exc:
            raise _unavailable(exc, what, self.endpoint_url) from exc

    def _key(self, kind: ObjectKind, scope: str, object_id: str) -> str:
        checked = validate_key(kind, scope, object_id)
        return f"{self.prefix}{scope}/{checked.value}/{object_id[:2]}/{object_id[2:]}"

    def _folder(self, kind: ObjectKind, scope: str) -> str:
        checked = validate_kind(kind)
        return f"{self.prefix}{validate_scope(scope)}/{checked.value}/"

    def put(self, kind: ObjectKind, scope: str, object_id: str, data: bytes) -> None:
        """Store `data` with a conditional PUT; a key that already exists keeps its bytes."""
        self._put_new(self._key(kind, scope, object_id), bytes(data))

    def _put_new(self, key: str, body: bytes | bytearray | BinaryIO) -> None:
        """PUT `body` (bytes or a seekable stream) under `key` unless an object is there."""
        for attempt in range(CONFLICT_RETRIES + 1):
            if not isinstance(body, bytes | bytearray):
                body.seek(0)
            with self.boundary(f"storing {key}"):
                try:
                    self.client.put_object(Bucket=self.bucket, Key=key,
                                           Body=cast(bytes, body),  # botocore takes bytearray
                                           IfNoneMatch="*")
                except ClientError as exc:
                    if is_precondition_failure(exc):
                        return  # the first bytes win
                    if not _is_conflict(exc) or attempt == CONFLICT_RETRIES:
                        raise
                else:
                    return

    def open_writer(self, kind: ObjectKind, scope: str) -> S3ObjectWriter:
        """Stream a new object; see S3ObjectWriter for how large ones are uploaded."""
        folder = self._folder(kind, scope)
        checked = validate_kind(kind)
        return S3ObjectWriter(
            self.client, self.bucket, f"{self.prefix}{INCOMING}{folder[len(self.prefix):]}",
            self.part_size, final_key=lambda object_id: self._key(checked, scope, object_id),
            put_new=self._put_new, boundary=self.boundary,
            conditional_complete=self.completes_conditionally)

    def completes_conditionally(self) -> bool:
        """Whether the server honours `If-None-Match: *` on CompleteMultipartUpload.

        AWS S3 and moto do; radosgw 16.2 (Debian 12) ignores it and would replace an existing
        object. Probed once, with a throw-away key under `.incoming/`, on first need.
        """
        with self._probe_lock, self.boundary("probing conditional multipart completion"):
            if self._completes_conditionally is None:
                probe_key = f"{self.prefix}{INCOMING}probe-{secrets.token_hex(8)}"
                self._completes_conditionally = probe_conditional_complete(
                    self.client, self.bucket, probe_key)
            return self._completes_conditionally

    def flush(self) -> None:
        """Nothing to do: S3 acknowledges a PUT only once it is durable."""

    def get(self, kind: ObjectKind, scope: str, object_id: str) -> bytes:
        """The stored bytes (one read of the whole body); ObjectNotFound if absent."""
        key = self._key(kind, scope, object_id)
        with self.boundary(f"reading {key}"):
            body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
            try:
                data: bytes = body.read()
            finally:
                body.close()
        return data

    def open_read(self, kind: ObjectKind, scope: str, object_id: str) -> BinaryIO:
        """A buffered stream over the GET response; ObjectNotFound if absent."""
        key = self._key(kind, scope, object_id)
        with self.boundary(f"reading {key}"):
            body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
        return io.BufferedReader(_S3Body(body, self, f"reading {key}"), 1024 * 1024)

    def _head(self, key: str) -> int | None:
        """The object's size, or None when it is absent."""
        try:
            with self.boundary(f"looking up {key}"):
                return self.client.head_object(Bucket=self.bucket, Key=key)["ContentLength"]
        except ObjectNotFound:
            return None

    def exists(self, kind: ObjectKind, scope: str, object_id: str) -> bool:
        """True when the key holds an object."""
        return self._head(self._key(kind, scope, object_id)) is not None

    def missing(self, kind: ObjectKind, scope: str, object_ids: Iterable[str]) -> list[str]:
        """The ids among `object_ids` that are not stored, in input order, without repeats."""
        checked = validate_kind(kind)
        validate_scope(scope)
        wanted = list(dict.fromkeys(object_ids))
        keys = [self._key(checked, scope, object_id) for object_id in wanted]
        if len(keys) <= 1:
            sizes = [self._head(key) for key in keys]
        else:
            with ThreadPoolExecutor(min(HEAD_THREADS, len(keys))) as pool:
                sizes = list(pool.map(self._head, keys))
        return [i for i, size in zip(wanted, sizes, strict=True) if size is None]

    def size(self, kind: ObjectKind, scope: str, object_id: str) -> int:
        """Stored size in bytes; ObjectNotFound if absent."""
        key = self._key(kind, scope, object_id)
        size = self._head(key)
        if size is None:
            raise ObjectNotFound(f"looking up {key}: no such object")
        return size

    def delete(self, kind: ObjectKind, scope: str, object_id: str) -> None:
        """Remove the object if present."""
        key = self._key(kind, scope, object_id)
        with self.boundary(f"deleting {key}"):
            self.client.delete_object(Bucket=self.bucket, Key=key)

    def _list(self, prefix: str, delimiter: str = "") -> Iterator[str]:
        """Every key (or common prefix, with a delimiter) under `prefix`, page by page."""
        token: str | None = None
        while True:
            args: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
            if delimiter:
                args["Delimiter"] = delimiter
            if token:
                args["ContinuationToken"] = token
            with self.boundary(f"listing {prefix or 'the bucket'}"):
                page = self.client.list_objects_v2(**args)
            if delimiter:
                yield from (p["Prefix"] for p in page.get("CommonPrefixes", []))
            else:
                yield from (o["Key"] for o in page.get("Contents", []))
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return

    def iter_ids(self, kind: ObjectKind, scope: str) -> Iterator[str]:
        """Every id stored for (kind, scope), listed lazily page by page."""
        folder = self._folder(kind, scope)
        return self._ids(folder)

    def iter_stats(self, kind: ObjectKind, scope: str) -> Iterator[ObjectStat]:
        """Id, size and last-modified time of every object of (kind, scope), page by page."""
        folder = self._folder(kind, scope)
        for entry in self._list_entries(folder):
            rest = entry["Key"][len(folder):]
            object_id = rest[:2] + rest[3:]
            if rest[2:3] == "/" and OBJECT_ID_PATTERN.fullmatch(object_id):
                yield ObjectStat(object_id, int(entry["Size"]),
                                 entry["LastModified"].timestamp())

    def _list_entries(self, prefix: str) -> Iterator[ObjectTypeDef]:
        """Every listed object entry (Key, Size, LastModified, ...) under `prefix`."""
        token: str | None = None
        while True:
            args: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
            if token:
                args["ContinuationToken"] = token
            with self.boundary(f"listing {prefix or 'the bucket'}"):
                page = self.client.list_objects_v2(**args)
            yield from page.get("Contents", [])
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return

    def _ids(self, folder: str) -> Iterator[str]:
        for key in self._list(folder):
            rest = key[len(folder):]
            object_id = rest[:2] + rest[3:]
            if rest[2:3] == "/" and OBJECT_ID_PATTERN.fullmatch(object_id):
                yield object_id

    def iter_scopes(self) -> Iterator[str]:
        """Every scope that holds at least one object (S3 has no empty folders)."""
        for common in self._list(self.prefix, "/"):
            scope = common[len(self.prefix):-1]
            if SCOPE_PATTERN.fullmatch(scope):
                yield scope

    def delete_scope(self, scope: str) -> None:
        """Remove every object of a scope, 1000 keys per request."""
        folder = f"{self.prefix}{validate_scope(scope)}/"
        batch: list[str] = []
        for key in self._list(folder):
            batch.append(key)
            if len(batch) == 1000:
                self._delete_many(batch)
                batch = []
        if batch:
            self._delete_many(batch)

    def _delete_many(self, keys: list[str]) -> None:
        with self.boundary(f"deleting {len(keys)} objects"):
            answer = self.client.delete_objects(
                Bucket=self.bucket,
                Delete={"Objects": [{"Key": k} for k in keys], "Quiet": True})
        if answer.get("Errors"):
            first = answer["Errors"][0]
            raise Unavailable(f"S3 refused to delete {first.get('Key')}: {first.get('Code')}")

    def sweep_incoming(self, older_than: float) -> int:
        """Abort multipart uploads and drop temporary objects older than `older_than` seconds.

        Returns how many were removed. Safe while other writers run, as long as none has
        been streaming one object for longer than `older_than`.
        """
        if older_than < 0:
            raise InvalidRequest("older_than must not be negative")
        cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=older_than)
        removed = 0
        incoming = f"{self.prefix}{INCOMING}"
        with self.boundary("sweeping incoming uploads"):
            paginator = self.client.get_paginator("list_multipart_uploads")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=incoming):
                for upload in page.get("Uploads", []):
                    if upload["Initiated"] < cutoff:
                        self.client.abort_multipart_upload(
                            Bucket=self.bucket, Key=upload["Key"],
                            UploadId=upload["UploadId"])
                        removed += 1
            listing = self.client.get_paginator("list_objects_v2")
            for listed in listing.paginate(Bucket=self.bucket, Prefix=incoming):
                for obj in listed.get("Contents", []):
                    if obj["LastModified"] < cutoff:
                        self.client.delete_object(Bucket=self.bucket, Key=obj["Key"])
                        removed += 1
        return removed
