"""The one frozen Settings model, read once at start: defaults < TOML file < environment < CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from sesamedisk.storage_config import GcSettings, S3Backend, ScrubSettings, StorageSettings

REDACTED = "********"


class PreviewSettings(BaseModel):
    """The [previews] section: the size of the render cache and how conversions are confined."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cache_max_mb: int = Field(
        default=2048, ge=1, description="Size cap of <data>/preview-cache in MiB; the least "
                                        "recently used renders are evicted beyond it.")
    office_network_isolation: Literal["required", "best-effort"] = Field(
        default="best-effort",
        description="LibreOffice runs without network (`unshare --net`); when that is "
                    "impossible, `required` refuses office previews (503), `best-effort` "
                    "converts anyway and logs a warning once.")


class Settings(BaseSettings):
    """Everything that configures a sesamedisk process."""

    model_config = SettingsConfigDict(env_prefix="SESAMEDISK_", frozen=True, extra="forbid",
                                      env_nested_delimiter="__")

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
    storage: StorageSettings = Field(default_factory=StorageSettings,
                                     description="Object backends, copies and quorum.")
    scrub: ScrubSettings = Field(default_factory=ScrubSettings,
                                 description="Background verification of every copy.")
    gc: GcSettings = Field(default_factory=GcSettings,
                           description="History retention, trash and garbage collection.")
    previews: PreviewSettings = Field(default_factory=PreviewSettings,
                                      description="Preview cache size, office conversion sandbox.")
    _config_file: Path | None = PrivateAttr(default=None)

    @property
    def config_file(self) -> Path | None:
        """The TOML file these settings were read from (absolute), None without `--config`."""
        return self._config_file

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
        for backend, shown in zip(self.storage.backends, values["storage"]["backends"],
                                  strict=True):
            if isinstance(backend, S3Backend) and backend.secret_key is not None:
                shown["secret_key"] = REDACTED
        return values


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Settings from defaults < `config_file` (TOML) < SESAMEDISK_* environment < overrides."""
    if config_file is None:
        return Settings(**overrides)
    if not config_file.is_file():
        raise FileNotFoundError(f"config file {config_file} does not exist")
    toml_file = config_file

    class FileSettings(Settings):
        """Settings with the TOML file as the lowest-priority source."""

        @classmethod
        def settings_customise_sources(
            cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            return (init_settings, env_settings,
                    TomlConfigSettingsSource(settings_cls, toml_file=toml_file))

        def model_post_init(self, context: Any, /) -> None:
            """Remember which file was read (office conversions must not see it)."""
            super().model_post_init(context)
            self._config_file = toml_file.absolute()

    return FileSettings(**overrides)
