"""Protection of confidential filing data (chapter 7 of the filing rules, arts. 46–53).

Art. 51 makes whoever holds filing data responsible for keeping it confidential; art. 47 makes the
filing password the authorisation code for filing business. DESIGN.md §4 turns that into rules
for this code base, all implemented here:

- ``subject_certificate``, ``contact_phone`` and ``contact_id`` are stored **encrypted**
  (AES-256-GCM, :meth:`Protector.encrypt`), **matched by keyed hash** (HMAC-SHA256 over a
  normalised value, :meth:`Protector.keyed_hash`) and **masked in every output**
  (:func:`mask_value`, and :func:`mask_text` / :class:`MaskingFilter` for free text and logs);
- the key lives **outside the database** (:func:`load_key`), so a copied database file or dump
  discloses nothing by itself;
- filing passwords are stored only as **argon2id** hashes (:func:`hash_password`).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import os
import re
import secrets
import stat
import string
import tempfile
import unicodedata
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = [
    "CONFIDENTIAL_KINDS",
    "InvalidToken",
    "MaskingFilter",
    "ProtectionKeyError",
    "Protector",
    "generate_password",
    "hash_password",
    "install_masking",
    "load_key",
    "mask_id",
    "mask_phone",
    "mask_text",
    "mask_value",
    "verify_password",
]

CONFIDENTIAL_KINDS = frozenset({"subject_certificate", "contact_phone", "contact_id"})

KEY_BYTES = 32  # AES-256 and a 256-bit HMAC key are both derived from one 32-byte master key
ENV_KEY = "ICPWATCH_KEY"
ENV_KEY_FILE = "ICPWATCH_KEY_FILE"


class ProtectionKeyError(RuntimeError):
    """The key is missing, unreadable or malformed. Messages name where, never what."""


class InvalidToken(ValueError):
    """An encrypted token is malformed, was altered, or was made under another key."""


# --------------------------------------------------------------------------- the key


def default_key_path() -> Path:
    """``$XDG_CONFIG_HOME/icpwatch/secret.key``, else ``~/.config/icpwatch/secret.key``."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "icpwatch" / "secret.key"


def _b64decode_strict(text: str | bytes) -> bytes:
    """Urlsafe base64 that rejects stray characters (the stdlib decoder silently drops them)."""
    return base64.b64decode(text, altchars=b"-_", validate=True)


def _decode_key(text: str | bytes, where: str) -> bytes:
    try:
        raw = _b64decode_strict(text.strip())
    except (binascii.Error, ValueError):
        # ``from None``: the chained exception could quote the offending characters.
        raise ProtectionKeyError(f"{where} is not urlsafe base64 of {KEY_BYTES} bytes") from None
    if len(raw) != KEY_BYTES:
        raise ProtectionKeyError(f"{where} decodes to {len(raw)} bytes; expected {KEY_BYTES}")
    return raw


def _create_key_file(path: Path) -> None:
    """Write a new random key to ``path`` (mode 0600) unless another process got there first."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".secret-", suffix=".tmp")  # mode 0600
    except OSError as exc:
        raise ProtectionKeyError(f"cannot create key file {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            os.chmod(tmp, 0o600)  # explicit: mkstemp promises it, a strange umask must not matter
            fh.write(base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)) + b"\n")
            fh.flush()
            os.fsync(fh.fileno())
        # link() fails if the name exists: two processes starting at once must not each write a
        # key and encrypt under different ones (data under the loser's key would be lost).
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        except OSError:
            # Filesystems without hard links: O_EXCL gives the same exclusivity.
            try:
                fd2 = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                return
            with os.fdopen(fd2, "wb") as out, open(tmp, "rb") as src:
                out.write(src.read())
    except OSError as exc:
        raise ProtectionKeyError(f"cannot create key file {path}: {exc.strerror or exc}") from None
    finally:
        try:
            os.unlink(tmp)
        except OSError:
            pass


def load_key(path: str | os.PathLike[str] | None = None, *, create: bool = True) -> bytes:
    """The 32-byte master key, kept outside the database.

    Precedence: env ``ICPWATCH_KEY`` (urlsafe base64 of 32 bytes); the file at ``path``; the file
    named by env ``ICPWATCH_KEY_FILE``; ``default_key_path()``. A missing file is created (mode
    0600, random key) when ``create`` is true. Raises :class:`ProtectionKeyError`.
    """
    env_key = os.environ.get(ENV_KEY)
    if env_key:
        return _decode_key(env_key, f"environment variable {ENV_KEY}")
    if path is not None:
        key_path = Path(path)
    elif os.environ.get(ENV_KEY_FILE):
        key_path = Path(os.environ[ENV_KEY_FILE])
    else:
        key_path = default_key_path()
    key_path = key_path.expanduser()

    if not key_path.exists():
        if not create:
            raise ProtectionKeyError(
                f"no key file at {key_path}; set {ENV_KEY} or {ENV_KEY_FILE}, or let icpwatch create one"
            )
        _create_key_file(key_path)
    try:
        data = key_path.read_bytes()
        mode = key_path.stat().st_mode
    except OSError as exc:
        raise ProtectionKeyError(f"cannot read key file {key_path}: {exc.strerror or exc}") from None
    if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
        # Warn rather than refuse (as ssh does): refusing would lock operators out of their data.
        warnings.warn(f"key file {key_path} is accessible to other users; chmod 600 it", stacklevel=2)
    return _decode_key(data, f"key file {key_path}")


# --------------------------------------------------------------------------- encryption and hashing


_TOKEN_PREFIX = "v1:"
_NONCE_BYTES = 12  # the AES-GCM standard nonce; random nonces are safe far beyond our volumes
_TAG_BYTES = 16
# Binds every token to this scheme and version; a v2 would use a different label.
_AAD = b"icpwatch/protection/v1"
_URLSAFE = bytes.maketrans(b"+/", b"-_")


# Layout characters people put into numbers: spaces, ASCII and Unicode hyphens/dashes, brackets.
_HASH_NOISE = re.compile(r"[\s\-\u2010-\u2015_()（）.]")
_COUNTRY_CODE = re.compile(r"\+86|0086")


def _normalise_for_hash(kind: str, value: str) -> str:
    """One spelling per value, so equal values hash equal (blacklist and conflict checks match on them).

    NFKC folds full-width digits and letters (common in Chinese input) to ASCII; spaces and
    hyphens are layout; ID numbers' check character X is case-insensitive.
    """
    text = value if value.isascii() else unicodedata.normalize("NFKC", value)
    if not text.isalnum():  # letters and digits alone (the common case) carry no layout to remove
        text = _HASH_NOISE.sub("", text)
    text = text.upper()
    if kind == "contact_phone":
        # "+86 138 1234 5678" is "13812345678", and "+86 10 12345678" is "010-12345678".
        prefix = _COUNTRY_CODE.match(text)
        if prefix:
            text = text[prefix.end() :]
            if not (text.startswith("0") or (text.startswith("1") and len(text) == 11)):
                text = "0" + text
        elif len(text) == 13 and text.startswith("861"):
            text = text[2:]
    return text


class Protector:
    """Encrypts, decrypts and keyed-hashes confidential values under one master key."""

    __slots__ = ("_aead", "_mac_key")

    def __init__(self, key: bytes) -> None:
        if not isinstance(key, (bytes, bytearray)) or len(key) != KEY_BYTES:
            raise ProtectionKeyError(f"the key must be {KEY_BYTES} bytes")
        # Separate sub-keys: using one key both for AES and for HMAC couples the two schemes; with
        # HKDF a weakness in one use does not carry over to the other.
        def derive(info: bytes) -> bytes:
            return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(bytes(key))

        self._aead = AESGCM(derive(b"icpwatch/v1/encryption"))
        self._mac_key = derive(b"icpwatch/v1/keyed-hash")

    def __repr__(self) -> str:  # never show key material, even in a debugger or traceback
        return "Protector(<key hidden>)"

    def encrypt(self, value: str) -> str:
        """``v1:`` + urlsafe base64 of nonce ‖ ciphertext ‖ tag; fits a Text column."""
        return self.encrypt_many([value])[0]

    def encrypt_many(self, values: Sequence[str]) -> list[str]:
        """``encrypt`` for each value, in order (a bulk import seals a million).

        Every value gets its own random nonce; they are drawn in one read of the system's random
        source rather than one read each.
        """
        nonces = secrets.token_bytes(_NONCE_BYTES * len(values))
        seal = self._aead.encrypt
        out: list[str] = []
        for start, value in zip(range(0, len(nonces), _NONCE_BYTES), values):
            nonce = nonces[start : start + _NONCE_BYTES]
            blob = nonce + seal(nonce, value.encode("utf-8"), _AAD)
            # base64.urlsafe_b64encode is these two calls; inlined, it is a third of sealing's cost.
            out.append(_TOKEN_PREFIX + binascii.b2a_base64(blob, newline=False).translate(_URLSAFE).decode("ascii"))
        return out

    def decrypt(self, token: str) -> str:
        """The plaintext; raises :class:`InvalidToken` if ``token`` is malformed or altered."""
        if not isinstance(token, str) or not token.startswith(_TOKEN_PREFIX):
            raise InvalidToken(f"not an icpwatch token (expected the prefix {_TOKEN_PREFIX!r})")
        try:
            blob = _b64decode_strict(token[len(_TOKEN_PREFIX) :].encode("ascii"))
        except (binascii.Error, ValueError, UnicodeError):
            raise InvalidToken("token is not valid base64") from None
        if len(blob) < _NONCE_BYTES + _TAG_BYTES:
            raise InvalidToken("token is too short to be a sealed value")
        try:
            plain = self._aead.decrypt(blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], _AAD)
        except InvalidTag:
            raise InvalidToken("token failed authentication: it was altered, or made under another key") from None
        return plain.decode("utf-8")

    def keyed_hash(self, kind: str, value: str) -> str:
        """HMAC-SHA256 (hex) of the normalised value, domain-separated by ``kind``.

        The kind is part of the MAC input so a phone number and an ID that happen to share digits
        never match each other. Raises ValueError for a value that is empty after normalising:
        two blank cells must not "match".
        """
        return self.keyed_hashes(kind, [value])[0]

    def keyed_hashes(self, kind: str, values: Iterable[str]) -> list[str]:
        """``keyed_hash`` for each value, in order."""
        if not kind:
            raise ValueError("kind must be a non-empty string")
        prefix = kind.encode("utf-8") + b"\x00"
        key = self._mac_key
        out: list[str] = []
        for value in values:
            normalised = _normalise_for_hash(kind, value)
            if not normalised:
                raise ValueError(f"nothing to hash: empty {kind} value")
            out.append(hmac.digest(key, prefix + normalised.encode("utf-8"), "sha256").hex())
        return out

    def fingerprint(self, kind: str, value: str) -> str:
        """HMAC-SHA256 (hex) of ``value`` exactly as given, domain-separated by ``kind``.

        For secrets that are not filing data — a receiver's URL with its token — where case and
        punctuation are part of the value, so nothing is normalised. Stored beside a masked copy,
        it tells two such values apart without disclosing either.
        """
        if not kind or not value:
            raise ValueError("fingerprint needs a kind and a value")
        return hmac.digest(self._mac_key, kind.encode("utf-8") + b"\x00" + value.encode("utf-8"), "sha256").hex()


# --------------------------------------------------------------------------- masking


_MASK = "*"


def _mask_positions(value: str, keep_head: int, keep_tail: int) -> str:
    """Mask the digits/letters of ``value`` except the first/last few, keeping separators."""
    idx = [i for i, ch in enumerate(value) if ch.isalnum()]
    if len(idx) <= keep_head + keep_tail:
        keep_head = keep_tail = 0
    hidden = set(idx[keep_head : len(idx) - keep_tail])
    return "".join(_MASK if i in hidden else ch for i, ch in enumerate(value))


def mask_phone(value: str) -> str:
    """``13812345678`` → ``138****5678``; ``010-12345678`` → ``010-****5678``.

    The country code, mobile prefix or area code and the last four digits stay (enough to tell
    numbers apart in a report); values under seven digits are masked entirely.
    """
    digits = "".join(ch for ch in unicodedata.normalize("NFKC", value) if ch.isdigit())
    if len(digits) < 7:
        return _mask_positions(value, 0, 0)
    head = 0
    national = digits
    if value.lstrip().startswith(("+86", "0086", "＋86")) or (len(digits) == 13 and digits.startswith("861")):
        head = len(digits) - len(digits.lstrip("0")) + 2  # "0086" or "86"
        national = digits[head:]
    if national.startswith("1") and len(national) == 11:
        head += 3  # mobile: the carrier prefix
    elif national.startswith("0"):
        head += 3 if national[1:2] in ("1", "2") else 4  # 010, 02x; else 0xxx
    elif head:  # +86 10 12345678: area code written without its 0
        head += 2 if national[:1] in ("1", "2") else 3
    else:
        head = 0  # a bare local number: only the last four
    return _mask_positions(value, head, 4)


def mask_id(value: str) -> str:
    """First 6 and last 4 of a certificate number: ``110101********1234``.

    18-digit and 15-digit resident IDs and 18-character unified social credit codes all keep the
    region code and the last four. Shorter numbers (passports …) keep less; under 8 characters
    nothing is shown.
    """
    compact = re.sub(r"[\s\-]", "", unicodedata.normalize("NFKC", value))
    n = len(compact)
    if n >= 15:
        return compact[:6] + _MASK * (n - 10) + compact[-4:]
    if n >= 8:
        return compact[:2] + _MASK * (n - 4) + compact[-2:]
    return _MASK * n


def mask_value(kind: str, value: str) -> str:
    """Mask one confidential column value (DESIGN.md §4) for output."""
    if kind == "contact_phone":
        return mask_phone(value)
    if kind in ("contact_id", "subject_certificate"):
        return mask_id(value)
    raise ValueError(f"unknown confidential kind {kind!r}; expected one of {sorted(CONFIDENTIAL_KINDS)}")


# Boundaries: not glued to other digits, letters, or (for numbers) dots — so parts of IP
# addresses, versions, filing numbers (京ICP备2021000001号-3 has 10 digits) and longer numbers stay.
# ASCII classes on purpose: \w and \b would treat Chinese characters as word characters.
_NB = r"(?<![0-9A-Za-z.])"
_NA = r"(?![0-9A-Za-z]|\.[0-9])"
_DATE = r"(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])"
_USCC_CHAR = r"[0-9A-HJ-NPQRTUWXY]"  # GB 32100-2015 alphabet: no I, O, S, V, Z
_PII = re.compile(
    rf"{_NB}(?P<id18>[1-9][0-9]{{5}}(?:18|19|20)[0-9]{{2}}{_DATE}[0-9]{{3}}[0-9Xx]){_NA}"
    rf"|{_NB}(?P<uscc>[1-9ANY][1-9][0-9]{{6}}{_USCC_CHAR}{{10}}){_NA}"
    rf"|{_NB}(?P<id15>[1-9][0-9]{{5}}[0-9]{{2}}{_DATE}[0-9]{{3}}){_NA}"
    rf"|(?<![0-9A-Za-z.+])(?P<mobile>(?:(?:\+|00)86[ -]?)?1[3-9][0-9](?:[0-9]{{8}}|[ -][0-9]{{4}}[ -][0-9]{{4}})){_NA}"
    rf"|{_NB}(?P<landline>(?:\(0[0-9]{{2,3}}\) ?|0[0-9]{{2,3}}[- ]|(?:\+|00)86[ -]?[1-9][0-9]{{1,2}}[ -])[1-9][0-9]{{6,7}}){_NA}"
)


_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def _uscc_check_ok(code: str) -> bool:
    """GB 32100-2015 check character (weighted sum mod 31) of a unified social credit code."""
    total = sum(_USCC_ALPHABET.index(c) * w for c, w in zip(code, _USCC_WEIGHTS))
    return _USCC_ALPHABET[(31 - total % 31) % 31] == code[17]


def _mask_match(match: re.Match[str]) -> str:
    text = match.group()
    kind = match.lastgroup
    if kind in ("mobile", "landline"):
        return mask_phone(text)
    if kind == "uscc" and text.isdigit() and not _uscc_check_ok(text):
        # An all-digit 18-digit number without the credit-code checksum is far more likely a
        # trace or order ID; codes with letters are masked even with a typo in them.
        return text
    return mask_id(text)


def mask_text(text: str) -> str:
    """Mask mainland mobile and landline numbers, 18/15-digit IDs and unified social credit codes.

    For log lines, exception messages and CSV cells. Filing numbers, IP addresses, dates and
    plain 8-digit numbers are left alone (the patterns require a structure those do not have).
    """
    if not text:
        return text
    return _PII.sub(_mask_match, text)


class MaskingFilter(logging.Filter):
    """Masks confidential numbers in a record's message, arguments, traceback and stack.

    The message is rendered (``msg % args``) before masking so that a number passed as an
    argument is caught too; the record then carries the masked text and no arguments.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: leave it for logging's own error handling
            return True
        record.msg = mask_text(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            # Formatters reuse exc_text when set; pre-rendering it lets us mask the traceback.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_text(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_text(record.stack_info)
        return True


def install_masking(logger: logging.Logger | None = None) -> MaskingFilter:
    """Add one :class:`MaskingFilter` to ``logger`` (default: root) and to each of its handlers.

    On the handlers because records propagated from child loggers skip their ancestors' logger
    filters but not the handlers; on the logger too so that handlers added later still get masked
    records from it. Idempotent.
    """
    target = logger if logger is not None else logging.getLogger()
    existing = next((f for f in target.filters if isinstance(f, MaskingFilter)), None)
    masking = existing or MaskingFilter()
    if existing is None:
        target.addFilter(masking)
    for handler in target.handlers:
        if not any(isinstance(f, MaskingFilter) for f in handler.filters):
            handler.addFilter(masking)
    return masking


# --------------------------------------------------------------------------- filing passwords


# argon2-cffi's defaults are RFC 9106's second recommended profile (t=3, 64 MiB, p=4).
_HASHER = PasswordHasher(type=Type.ID)
_PASSWORD_ALPHABET = "".join(c for c in string.ascii_letters + string.digits if c not in "0O1lI")


def hash_password(password: str) -> str:
    """Argon2id hash (``$argon2id$…``, salted) of a filing password; the only form stored."""
    return _HASHER.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    """True when ``password`` matches; False on mismatch.

    Raises ValueError when ``stored_hash`` is not an argon2id hash: a corrupt record must be
    noticed, not silently treated as a wrong password.
    """
    if not stored_hash.startswith("$argon2id$"):
        raise ValueError("stored filing password hash is not an argon2id hash")
    try:
        return _HASHER.verify(stored_hash, password)
    except VerifyMismatchError:
        return False
    except (InvalidHashError, VerificationError):
        # Anything but a plain mismatch means the stored value could not be decoded.
        raise ValueError("stored filing password hash is malformed") from None


def password_needs_rehash(stored_hash: str) -> bool:
    """True when the hash was made with weaker parameters than the current ones."""
    return _HASHER.check_needs_rehash(stored_hash)


def generate_password(length: int = 12) -> str:
    """A random filing password from ``secrets``: letters and digits, no look-alikes (0/O, 1/l/I).

    Always holds an upper-case letter, a lower-case letter and a digit, as password rules at
    access providers commonly demand.
    """
    if length < 8:
        raise ValueError("a filing password needs at least 8 characters")
    while True:
        candidate = "".join(secrets.choice(_PASSWORD_ALPHABET) for _ in range(length))
        if (
            any(c.isupper() for c in candidate)
            and any(c.islower() for c in candidate)
            and any(c.isdigit() for c in candidate)
        ):
            return candidate
