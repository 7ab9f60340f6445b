"""Accounts: users, password hashing, login and api tokens."""

from __future__ import annotations

import re
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from sesamedisk.domain.records import ApiToken, User
from sesamedisk.errors import InvalidRequest, PermissionDenied, Unauthenticated
from sesamedisk.ports.deps import Deps

_hasher = PasswordHasher()
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
MIN_PASSWORD_LENGTH = 8
_DUMMY_HASH = _hasher.hash("timing-equaliser-for-unknown-users")


def hash_password(password: str) -> str:
    """An Argon2id PHC string for `password`."""
    return _hasher.hash(password)


def normalise_email(email: str) -> str:
    """Trim and lower-case an email, rejecting obviously invalid ones."""
    email = email.strip().lower()
    if not _EMAIL.fullmatch(email) or len(email) > 254:
        raise InvalidRequest("invalid email address")
    return email


def create_user(deps: Deps, actor: User | None, *, email: str, password: str,
                is_admin: bool = False) -> User:
    """Create an account; `actor` None means the operator (command line)."""
    if actor is not None and not actor.is_admin:
        raise PermissionDenied("only admins may create users")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidRequest(f"password must have at least {MIN_PASSWORD_LENGTH} characters")
    email = normalise_email(email)
    with deps.uow() as uow:
        user = uow.users.add(email=email, password_hash=hash_password(password),
                             is_admin=is_admin, now=deps.clock())
        uow.commit()
    return user


def ensure_first_admin(deps: Deps, *, email: str, password: str) -> User | None:
    """Create the first admin when there are no users yet; None if users already exist."""
    with deps.uow() as uow:
        if uow.users.count() > 0:
            return None
    return create_user(deps, None, email=email, password=password, is_admin=True)


def check_credentials(deps: Deps, *, email: str, password: str) -> User:
    """The active user with these credentials; Unauthenticated otherwise."""
    with deps.uow() as uow:
        user = uow.users.get_by_email(email.strip())
        if user is None or not user.is_active:
            _verify(_DUMMY_HASH, password)
            raise Unauthenticated("Unable to login with provided credentials.")
        if not _verify(user.password_hash, password):
            raise Unauthenticated("Unable to login with provided credentials.")
        if _hasher.check_needs_rehash(user.password_hash):
            uow.users.set_password_hash(user.id, hash_password(password))
            uow.commit()
    return user


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def login(deps: Deps, *, email: str, password: str, device_id: str = "",
          device_name: str = "", platform: str = "") -> str:
    """Check credentials and issue a new api2 token for this device."""
    user = check_credentials(deps, email=email, password=password)
    token = secrets.token_hex(20)
    with deps.uow() as uow:
        uow.api_tokens.add(ApiToken(token=token, user_id=user.id, device_id=device_id[:64],
                                    device_name=device_name[:255], platform=platform[:32],
                                    created_at=deps.clock()))
        uow.commit()
    return token


def authenticate(deps: Deps, token: str) -> User:
    """The active user an api2 token belongs to; Unauthenticated otherwise."""
    if not token:
        raise Unauthenticated("missing token")
    with deps.uow() as uow:
        record = uow.api_tokens.get(token)
        user = uow.users.get(record.user_id) if record else None
    if user is None or not user.is_active:
        raise Unauthenticated("invalid token")
    return user


def logout(deps: Deps, token: str) -> None:
    """Revoke an api2 token."""
    with deps.uow() as uow:
        uow.api_tokens.delete(token)
        uow.commit()
