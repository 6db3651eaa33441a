"""The API function's configuration, read from the environment and validated once per container.

The same validator runs at `pulumi preview` (UploadApiArgs) and at cold start, so a bad value is
refused before deployment with the message the function would give.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

MIB = 1024 * 1024
AUTH_MODES = ("iam", "jwt")
# Every upload lands under this prefix, one sub-prefix per caller; the API's role may touch nothing else.
UPLOAD_PREFIX = "uploads/"
# Content types the engine decodes, and the extension the server gives the key (the handler skips
# keys without an image extension instead of reporting them).
CONTENT_TYPES = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "image/bmp": ".bmp",
    "image/tiff": ".tiff",
}
HEIC_CONTENT_TYPES = {"image/heic": ".heic", "image/heif": ".heif"}


class SettingError(ValueError):
    """A bad variable: `variable` names it, `message` says what is wrong (`str()` is both, in that order)."""

    def __init__(self, variable: str, message: str) -> None:
        super().__init__(f"{variable} {message}")
        self.variable = variable
        self.message = message


@dataclass(frozen=True)
class ApiSettings:
    """Validated configuration of the API function."""

    source_bucket: str
    destination_bucket: str
    history_table: str
    auth: str = "iam"
    jwt_issuer: str = ""
    max_input_bytes: int = 50 * MIB
    upload_expiry_seconds: int = 300
    url_expiry_seconds: int = 300
    cdn_domain: str = ""
    transfer_acceleration: bool = False
    heic: bool = True

    @property
    def content_types(self) -> dict[str, str]:
        """Allowed upload content type -> the extension of the key the server chooses."""
        return {**CONTENT_TYPES, **(HEIC_CONTENT_TYPES if self.heic else {})}


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise SettingError(name, f"must be an integer between {low} and {high}, got {raw!r}")
    return int(raw)


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower() or str(default).lower()
    if raw not in ("true", "false"):
        raise SettingError(name, f"must be true or false, got {raw!r}")
    return raw == "true"


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise SettingError(name, "must be set")
    return value


def settings_from_env(env: Mapping[str, str]) -> ApiSettings:
    """Build ApiSettings from an environment mapping; a bad value is a SettingError naming the variable."""
    auth = env.get("API_AUTH", "iam").strip() or "iam"
    if auth not in AUTH_MODES:
        raise SettingError("API_AUTH", f"must be one of {', '.join(AUTH_MODES)}, got {auth!r}")
    issuer = env.get("JWT_ISSUER", "").strip()
    if auth == "jwt" and not issuer.startswith("https://"):
        raise SettingError("JWT_ISSUER", f"must be the issuer's https:// URL when API_AUTH is jwt, got {issuer!r}")
    source = _required(env, "SOURCE_BUCKET")
    destination = _required(env, "DESTINATION_BUCKET")
    if source == destination:
        raise SettingError("DESTINATION_BUCKET", "must differ from SOURCE_BUCKET: outputs never go to the source")
    return ApiSettings(
        source_bucket=source,
        destination_bucket=destination,
        history_table=_required(env, "HISTORY_TABLE"),
        auth=auth,
        jwt_issuer=issuer,
        max_input_bytes=_int(env, "MAX_INPUT_BYTES", 50 * MIB, 1, 5 * 1024 * MIB),
        # Presigned URLs live minutes: long enough for a slow mobile upload, short enough if one leaks.
        upload_expiry_seconds=_int(env, "UPLOAD_EXPIRY_SECONDS", 300, 60, 900),
        url_expiry_seconds=_int(env, "URL_EXPIRY_SECONDS", 300, 60, 3600),
        cdn_domain=env.get("CDN_DOMAIN", "").strip(),
        transfer_acceleration=_bool(env, "TRANSFER_ACCELERATION", False),
        heic=_bool(env, "HEIC_ENABLED", True),
    )


@cache
def settings() -> ApiSettings:
    """The container's settings, read on first use (cold start)."""
    return settings_from_env(os.environ)
