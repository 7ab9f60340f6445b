"""The [storage], [scrub] and [gc] sections of the TOML config file (docs/configuration.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
"""Backend and region names: lower-case letters, digits, '-' and '_' (at most 64)."""


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LocalBackend(_Section):
    """A folder on a local (or mounted) disk."""

    type: Literal["local"]
    name: str = Field(pattern=NAME_PATTERN, description="Unique name of the backend.")
    region: str = Field(default="default", pattern=NAME_PATTERN,
                        description="Region the disk is in (for library residency).")
    path: Path = Field(description="Folder of the objects; relative paths are below --data.")


class S3Backend(_Section):
    """A bucket of an S3-compatible store (AWS S3, Ceph radosgw, ...)."""

    type: Literal["s3"]
    name: str = Field(pattern=NAME_PATTERN, description="Unique name of the backend.")
    region: str = Field(default="default", pattern=NAME_PATTERN,
                        description="Region the bucket's data is in (for library residency).")
    endpoint: str = Field(description="Endpoint URL, e.g. https://s3.eu-central-1.amazonaws.com.")
    bucket: str = Field(min_length=3, max_length=63, description="Bucket name.")
    prefix: str = Field(default="", description="Key prefix inside the bucket ('' or ending in /).")
    access_key: str = Field(min_length=1, description="Access key id.")
    secret_key: SecretStr | None = Field(default=None, description="Secret access key.")
    secret_key_env: str | None = Field(
        default=None, description="Name of an environment variable holding the secret key.")
    s3_region: str = Field(default="us-east-1", description="Signing region of the endpoint.")
    create_bucket: bool = Field(default=False,
                                description="Create the bucket at start when it is missing.")

    @model_validator(mode="after")
    def _one_secret(self) -> Self:
        if (self.secret_key is None) == (self.secret_key_env is None):
            raise ValueError(f"backend {self.name}: give exactly one of secret_key and "
                             "secret_key_env")
        return self


Backend = Annotated[LocalBackend | S3Backend, Field(discriminator="type")]


class StorageSettings(_Section):
    """Where object bytes live: the backends, how many copies, and the write quorum."""

    backends: list[Backend] = Field(
        default_factory=list,
        description="Backends in placement order; none: one verified local copy in --data.")
    copies: int | None = Field(default=None, ge=1,
                               description="Copies of every object; default: every backend.")
    write_quorum: int | None = Field(
        default=None, ge=1, description="Copies that must be stored before a write succeeds; "
                                        "default: a majority of `copies`.")
    default_regions: list[str] | None = Field(
        default=None, description="Regions new libraries are pinned to unless told otherwise.")

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        names = [b.name for b in self.backends]
        if len(set(names)) != len(names):
            raise ValueError("storage backends need unique names")
        if not self.backends:
            if self.copies not in (None, 1) or self.write_quorum not in (None, 1):
                raise ValueError("copies and write_quorum need [[storage.backends]]")
            return self
        if self.target_copies > len(self.backends):
            raise ValueError(f"copies = {self.copies} but only {len(self.backends)} backends")
        if self.quorum > self.target_copies:
            raise ValueError(f"write_quorum = {self.write_quorum} exceeds copies = "
                             f"{self.target_copies}")
        regions = {b.region for b in self.backends}
        unknown = set(self.default_regions or ()) - regions
        if unknown:
            raise ValueError(f"default_regions names regions without backends: "
                             f"{', '.join(sorted(unknown))}")
        return self

    @property
    def target_copies(self) -> int:
        """How many backends hold each object."""
        return self.copies or max(1, len(self.backends))

    @property
    def quorum(self) -> int:
        """How many copies a write needs before it succeeds."""
        return self.write_quorum or self.target_copies // 2 + 1


class ScrubSettings(_Section):
    """The background scrub: re-read and verify every copy, repair from good ones."""

    interval_hours: float = Field(default=168.0, ge=0,
                                  description="Start a full pass this often; 0: never in serve.")
    max_mb_per_second: float = Field(default=20.0, gt=0,
                                     description="Read rate limit of a pass (MB/s, 10^6 B).")
    repair_interval_seconds: float = Field(
        default=30.0, gt=0, description="How often serve retries queued repairs.")


class GcSettings(_Section):
    """Garbage collection: which history is kept and when unreferenced bytes go."""

    history_days: float | None = Field(
        default=None, ge=0, description="Keep every version younger than this; "
                                        "unset: keep all history forever.")
    trash_days: float = Field(default=30.0, ge=0,
                              description="Deleted libraries stay restorable this long.")
    grace_hours: float = Field(default=24.0, ge=0,
                               description="Never collect objects stored more recently than "
                                           "this (uploads in flight).")
    upload_expiry_days: float = Field(default=7.0, gt=0,
                                      description="Forget resumable upload sessions idle this "
                                                  "long; their stored chunks become garbage.")
    interval_hours: float = Field(default=0.0, ge=0,
                                  description="Run garbage collection in serve this often; "
                                              "0: only by `sesame gc`.")
