"""The one frozen Settings model, read once at start: defaults < environment < command line."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

REDACTED = "********"


class Settings(BaseSettings):
    """Everything that configures a sesamedisk process."""

    model_config = SettingsConfigDict(env_prefix="SESAMEDISK_", frozen=True, extra="forbid")

    host: str = Field(default="127.0.0.1", description="Address the HTTP server binds to.")
    port: int = Field(default=8000, ge=1, le=65535, description="TCP port of the HTTP server.")
    data: Path = Field(default=Path("sesame-data"),
                       description="Folder that holds everything the server stores.")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the metadata database; default SQLite inside `data`.")
    admin_email: str | None = Field(default=None,
                                    description="Email of the admin created on first start.")
    admin_password: SecretStr | None = Field(
        default=None, description="Password of the admin created on first start.")
    max_block_bytes: int = Field(default=64 * 1024 * 1024, ge=1,
                                 description="Largest block a sync client may upload.")
    public_url: str | None = Field(
        default=None, description="Base URL clients reach the server at (for download links).")

    @property
    def objects_dir(self) -> Path:
        """Where the local object store keeps blocks, fs objects and commits."""
        return self.data / "objects"

    def redacted(self) -> dict[str, object]:
        """The settings as a dict with secrets hidden, for `sesame config show`."""
        values = self.model_dump()
        if self.admin_password is not None:
            values["admin_password"] = REDACTED
        if self.database_url and "@" in self.database_url:
            scheme, _, rest = self.database_url.partition("://")
            credentials, _, host = rest.rpartition("@")
            user = credentials.split(":", 1)[0]
            values["database_url"] = f"{scheme}://{user}:{REDACTED}@{host}"
        values["data"] = str(self.data)
        return values
