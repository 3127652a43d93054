"""API keys: in the OS keyring, or for this session only where there is none.

Keys are stored with the ``keyring`` package under the service ``Hearth`` and the
provider's name (Windows Credential Manager, macOS Keychain, the Secret Service
on Linux desktops). Where no keyring backend works (a headless Linux box, CI), a
key can still be kept in memory for the running session, and ``KeyStore.notice``
says so in words a person can act on. A key never goes to a file or a log.
"""

from __future__ import annotations

from typing import Any, Literal

from engine.remote.errors import KeyStoreError

SERVICE = "Hearth"
Where = Literal["keyring", "session"]

NO_KEYRING = ("No system keyring was found (on Linux, install and unlock GNOME Keyring or KWallet). "
              "The key is kept for this session only: enter it again after a restart.")


class KeyStore:
    """Get, set and delete provider keys. ``backend``: a keyring backend (tests); default: the system's."""

    def __init__(self, backend: Any | None = None) -> None:
        self._backend = backend
        self._session: dict[str, str] = {}

    def _keyring(self) -> Any | None:
        """The usable keyring backend, or None where only keyring's fail/null backends exist."""
        try:
            import keyring
            from keyring.backends import chainer, fail, null
        except ImportError:
            return None
        backend = self._backend if self._backend is not None else keyring.get_keyring()
        if isinstance(backend, (fail.Keyring, null.Keyring)):
            return None
        if isinstance(backend, chainer.ChainerBackend) and not backend.backends:
            return None
        return backend

    @property
    def persistent(self) -> bool:
        """Keys outlive the session (an OS keyring works here)."""
        return self._keyring() is not None

    @property
    def notice(self) -> str | None:
        """What to tell the user before they type a key, or None when a keyring works."""
        return None if self.persistent else NO_KEYRING

    def set(self, name: str, key: str, session_only: bool = False) -> Where:
        """Store ``key`` for provider ``name``; where it went.

        Raises:
            KeyStoreError: no keyring works and ``session_only`` is False (ask the user,
                then call again with ``session_only=True``), or the keyring refused.
        """
        backend = None if session_only else self._keyring()
        if backend is None:
            if not session_only:
                raise KeyStoreError(NO_KEYRING)
            self._session[name] = key
            return "session"
        try:
            backend.set_password(SERVICE, name, key)
        except Exception as exc:  # keyring raises KeyringError, dbus and OS errors alike
            raise KeyStoreError(f"The system keyring refused to store the key: {_why(exc)}") from None
        self._session.pop(name, None)
        return "keyring"

    def get(self, name: str) -> str | None:
        """The key for ``name`` (this session's first), or None."""
        if name in self._session:
            return self._session[name]
        backend = self._keyring()
        if backend is None:
            return None
        try:
            return backend.get_password(SERVICE, name)
        except Exception as exc:
            raise KeyStoreError(f"The system keyring could not be read (is it locked?): {_why(exc)}") from None

    def delete(self, name: str) -> None:
        """Forget the key for ``name`` everywhere; no error when there is none."""
        self._session.pop(name, None)
        backend = self._keyring()
        if backend is None:
            return
        try:
            backend.delete_password(SERVICE, name)
        except Exception as exc:
            if type(exc).__name__ != "PasswordDeleteError":  # there was no key: nothing to do
                raise KeyStoreError(f"The system keyring could not delete the key: {_why(exc)}") from None


def _why(exc: BaseException) -> str:
    # Only the exception's class and text: a backend error never echoes the password itself.
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
