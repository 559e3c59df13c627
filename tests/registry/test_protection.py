"""Confidential data (chapter 7; DESIGN.md §4): the key outside the database, encryption, keyed
hashes, masking in values, free text and logs, and argon2id filing passwords."""

from __future__ import annotations

import base64
import io
import logging
import os
import stat
from pathlib import Path

import pytest

from registry.protection import (
    InvalidToken,
    MaskingFilter,
    ProtectionKeyError,
    Protector,
    generate_password,
    hash_password,
    install_masking,
    load_key,
    mask_id,
    mask_phone,
    mask_text,
    mask_value,
    verify_password,
)

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
KEY_TEXT = base64.urlsafe_b64encode(KEY).decode()


@pytest.fixture
def protector() -> Protector:
    return Protector(KEY)


@pytest.fixture(autouse=True)
def _isolated_key_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test may read or create the developer's real key."""
    monkeypatch.delenv("ICPWATCH_KEY", raising=False)
    monkeypatch.delenv("ICPWATCH_KEY_FILE", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


# --------------------------------------------------------------------------- encryption


def test_round_trip(protector: Protector) -> None:
    for value in ["110101199003071234", "13812345678", "91350100M000100Y43", "", "张三 · 测试"]:
        token = protector.encrypt(value)
        assert token.isascii() and token.startswith("v1:")
        assert value not in token or value == ""
        assert protector.decrypt(token) == value


def test_random_nonce_each_time(protector: Protector) -> None:
    tokens = {protector.encrypt("13812345678") for _ in range(20)}
    assert len(tokens) == 20


def test_tampered_token_rejected(protector: Protector) -> None:
    token = protector.encrypt("110101199003071234")
    raw = bytearray(base64.urlsafe_b64decode(token[3:]))
    raw[-1] ^= 0x01
    tampered = "v1:" + base64.urlsafe_b64encode(bytes(raw)).decode()
    with pytest.raises(InvalidToken, match="altered, or made under another key"):
        protector.decrypt(tampered)


def test_token_from_another_key_rejected(protector: Protector) -> None:
    with pytest.raises(InvalidToken, match="failed authentication"):
        Protector(OTHER_KEY).decrypt(protector.encrypt("13812345678"))


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("13812345678", "not an icpwatch token"),
        ("v2:AAAA", "not an icpwatch token"),
        ("v1:!!!!", "not valid base64"),
        ("v1:" + base64.urlsafe_b64encode(b"short").decode(), "too short"),
    ],
)
def test_malformed_tokens(protector: Protector, token: str, message: str) -> None:
    with pytest.raises(InvalidToken, match=message):
        protector.decrypt(token)


def test_protector_hides_its_key(protector: Protector) -> None:
    assert repr(protector) == "Protector(<key hidden>)"
    with pytest.raises(ProtectionKeyError):
        Protector(b"too short")


# --------------------------------------------------------------------------- keyed hash


@pytest.mark.parametrize(
    ("kind", "spellings"),
    [
        ("contact_phone", ["13812345678", "138 1234 5678", "138-1234-5678", "+86 138 1234 5678", "008613812345678", "8613812345678", "１３８１２３４５６７８"]),
        ("contact_phone", ["010-12345678", "(010)12345678", "01012345678", "+86 10 1234 5678", "+86-010-12345678"]),
        ("contact_id", ["11010119900307123X", "11010119900307123x", "110101 19900307 123X", "１１０１０１１９９００３０７１２３Ｘ"]),
        ("subject_certificate", ["91350100M000100Y43", "91350100m000100y43", "9135 0100 M000 100Y 43", "91350100-M000100Y43"]),
    ],
)
def test_keyed_hash_equal_for_equivalent_spellings(protector: Protector, kind: str, spellings: list[str]) -> None:
    digests = {protector.keyed_hash(kind, s) for s in spellings}
    assert len(digests) == 1
    (digest,) = digests
    assert len(digest) == 64 and int(digest, 16) >= 0


def test_keyed_hash_differs_across_kinds_values_and_keys(protector: Protector) -> None:
    value = "110101199003071234"
    assert protector.keyed_hash("contact_id", value) != protector.keyed_hash("subject_certificate", value)
    assert protector.keyed_hash("contact_id", value) != protector.keyed_hash("contact_id", "110101199003071235")
    assert protector.keyed_hash("contact_id", value) != Protector(OTHER_KEY).keyed_hash("contact_id", value)
    assert protector.keyed_hash("contact_id", value) == Protector(KEY).keyed_hash("contact_id", value)


def test_fingerprint_keeps_every_character_of_the_value(protector: Protector) -> None:
    url = "https://oapi.dingtalk.com/robot/send?access_token=Ab-1"
    assert protector.fingerprint("alert_receiver", url) == Protector(KEY).fingerprint("alert_receiver", url)
    for other in (url.replace("Ab", "AB"), url.replace("-", ""), url + " "):
        assert protector.fingerprint("alert_receiver", other) != protector.fingerprint("alert_receiver", url)
    assert protector.fingerprint("other", url) != protector.fingerprint("alert_receiver", url)
    assert Protector(OTHER_KEY).fingerprint("alert_receiver", url) != protector.fingerprint("alert_receiver", url)
    with pytest.raises(ValueError):
        protector.fingerprint("alert_receiver", "")


def test_keyed_hash_refuses_empty_values(protector: Protector) -> None:
    with pytest.raises(ValueError, match="empty"):
        protector.keyed_hash("contact_phone", " - ")
    with pytest.raises(ValueError):
        protector.keyed_hash("", "13812345678")


# --------------------------------------------------------------------------- the key


def test_key_file_created_0600_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "conf" / "secret.key"
    key = load_key(path)
    assert len(key) == 32
    assert path.exists()
    if os.name == "posix":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_key(path) == key
    assert base64.urlsafe_b64decode(path.read_text().strip()) == key
    assert [p.name for p in path.parent.iterdir()] == ["secret.key"]  # no temp file left behind


def test_key_file_not_created_when_create_false(tmp_path: Path) -> None:
    path = tmp_path / "missing.key"
    with pytest.raises(ProtectionKeyError, match="no key file at"):
        load_key(path, create=False)
    assert not path.exists()


def test_default_location_respects_xdg(tmp_path: Path) -> None:
    key = load_key()
    path = tmp_path / "xdg" / "icpwatch" / "secret.key"
    assert path.exists()
    assert load_key(create=False) == key


def test_key_file_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "env.key"
    path.write_text(KEY_TEXT + "\n")
    path.chmod(0o600)
    monkeypatch.setenv("ICPWATCH_KEY_FILE", str(path))
    assert load_key() == KEY
    explicit = tmp_path / "explicit.key"
    explicit.write_text(base64.urlsafe_b64encode(OTHER_KEY).decode())
    explicit.chmod(0o600)
    assert load_key(explicit) == OTHER_KEY  # an explicit path beats ICPWATCH_KEY_FILE


def test_env_key_wins_over_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "file.key"
    path.write_text(base64.urlsafe_b64encode(OTHER_KEY).decode())
    path.chmod(0o600)
    monkeypatch.setenv("ICPWATCH_KEY", KEY_TEXT)
    monkeypatch.setenv("ICPWATCH_KEY_FILE", str(path))
    assert load_key(path) == KEY
    assert not (tmp_path / "xdg").exists()  # nothing created when the env key is used


@pytest.mark.parametrize(
    "secret",
    [
        base64.urlsafe_b64encode(b"sixteen byte key").decode(),  # valid base64, wrong length
        "c2VjcmV0LWtleS1tYXRlcmlhbA@@@notbase64",
        base64.urlsafe_b64encode(KEY + b"extra").decode(),
    ],
)
def test_key_errors_never_contain_key_material(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, secret: str) -> None:
    monkeypatch.setenv("ICPWATCH_KEY", secret)
    with pytest.raises(ProtectionKeyError) as env_err:
        load_key()
    assert "ICPWATCH_KEY" in str(env_err.value)
    monkeypatch.delenv("ICPWATCH_KEY")
    path = tmp_path / "bad.key"
    path.write_text(secret)
    path.chmod(0o600)
    with pytest.raises(ProtectionKeyError) as file_err:
        load_key(path)
    assert str(path) in str(file_err.value)
    for err in (env_err, file_err):
        text = str(err.value) + repr(err.value) + str(err.value.__cause__) + str(err.value.__context__)
        assert secret not in text
        assert secret[:12] not in text
        assert err.value.__cause__ is None


def test_unreadable_key_file(tmp_path: Path) -> None:
    directory = tmp_path / "a-directory.key"
    directory.mkdir()
    with pytest.raises(ProtectionKeyError, match="cannot read key file"):
        load_key(directory)


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_world_readable_key_file_warns(tmp_path: Path) -> None:
    path = tmp_path / "open.key"
    path.write_text(KEY_TEXT)
    path.chmod(0o644)
    with pytest.warns(UserWarning, match="chmod 600"):
        assert load_key(path) == KEY


def test_loaded_key_drives_protector(tmp_path: Path) -> None:
    path = tmp_path / "k"
    token = Protector(load_key(path)).encrypt("13812345678")
    assert Protector(load_key(path)).decrypt(token) == "13812345678"


# --------------------------------------------------------------------------- masking values


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("13812345678", "138****5678"),
        ("138 1234 5678", "138 **** 5678"),
        ("+86 138 1234 5678", "+86 138 **** 5678"),
        ("+8613812345678", "+86138****5678"),
        ("010-12345678", "010-****5678"),
        ("021-87654321", "021-****4321"),
        ("0755-12345678", "0755-****5678"),
        ("0755-1234567", "0755-***4567"),
        ("(010)12345678", "(010)****5678"),
        ("01012345678", "010****5678"),
        ("+86 10 12345678", "+86 10 ****5678"),
        ("12345678", "****5678"),
        ("12345", "*****"),
        ("110", "***"),
        ("", ""),
    ],
)
def test_mask_phone(value: str, masked: str) -> None:
    assert mask_phone(value) == masked


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("110101199003071234", "110101********1234"),
        ("11010119900307123X", "110101********123X"),
        ("110101900307123", "110101*****7123"),
        ("91350100M000100Y43", "913501********0Y43"),
        ("9135 0100 M000 100Y 43", "913501********0Y43"),
        ("E12345678", "E1*****78"),
        ("1234567", "*******"),
        ("", ""),
    ],
)
def test_mask_id(value: str, masked: str) -> None:
    assert mask_id(value) == masked


def test_mask_value_dispatches_by_kind() -> None:
    assert mask_value("contact_phone", "13812345678") == "138****5678"
    assert mask_value("contact_id", "110101199003071234") == "110101********1234"
    assert mask_value("subject_certificate", "91350100M000100Y43") == "913501********0Y43"
    with pytest.raises(ValueError, match="unknown confidential kind"):
        mask_value("contact_name", "张三")


# --------------------------------------------------------------------------- masking free text


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "2024-03-05 10:22:01 INFO import row 17: contact_phone=13812345678 contact_id=110101199003071234",
            "2024-03-05 10:22:01 INFO import row 17: contact_phone=138****5678 contact_id=110101********1234",
        ),
        ("联系电话：010-12345678，手机 +86 139 1234 5678。", "联系电话：010-****5678，手机 +86 139 **** 5678。"),
        ("身份证号11010119900307123x有误", "身份证号110101********123x有误"),
        ("旧身份证110101900307123", "旧身份证110101*****7123"),
        ("统一社会信用代码：91350100M000100Y43", "统一社会信用代码：913501********0Y43"),
        ('"张三","13912345678","京ICP备2021000001号-3"', '"张三","139****5678","京ICP备2021000001号-3"'),
        ("ValueError: duplicate contact (0755)87654321", "ValueError: duplicate contact (0755)****4321"),
    ],
)
def test_mask_text_masks(line: str, expected: str) -> None:
    assert mask_text(line) == expected


@pytest.mark.parametrize(
    "line",
    [
        "site 京ICP备2021000001号-3 shows 京ICP备2021000001号 and 粤ICP备2023000001号-2A",
        "licence 京ICP证030173号, 粤B2-20090059, 京公网安备11010802020000号",
        "fetched http://192.168.10.25:8080/ from 10.0.0.1 and 2001:db8::1",
        "sweep 2024-03-05T10:22:01+08:00 date 20240305 took 12345678 us",
        "ts=1709605321123 version 3.13812345678 count 12345678 port 8080",
        "order 123456789012345679 trace 0123456789",
        "",
    ],
)
def test_mask_text_leaves_filing_numbers_ips_dates_alone(line: str) -> None:
    assert mask_text(line) == line


def test_mask_text_is_idempotent() -> None:
    once = mask_text("phone 13812345678 id 110101199003071234")
    assert mask_text(once) == once


# --------------------------------------------------------------------------- logging


@pytest.fixture
def stream_logger() -> tuple[logging.Logger, io.StringIO]:
    logger = logging.getLogger("icpwatch.test.masking")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger.handlers[:] = [handler]
    logger.filters[:] = []
    yield logger, stream
    logger.handlers[:] = []
    logger.filters[:] = []


def test_logging_filter_masks_message_and_args(stream_logger: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = stream_logger
    install_masking(logger)
    logger.info("import failed for %s (id %s)", "13812345678", "110101199003071234")
    logger.info("contact 010-12345678 for 京ICP备2021000001号-3 at 192.0.2.1")
    logger.info("number %d", 13812345678)
    out = stream.getvalue()
    assert "13812345678" not in out and "110101199003071234" not in out and "12345678 " not in out
    assert "INFO import failed for 138****5678 (id 110101********1234)" in out
    assert "contact 010-****5678 for 京ICP备2021000001号-3 at 192.0.2.1" in out
    assert "number 138****5678" in out


def test_logging_filter_masks_tracebacks(stream_logger: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = stream_logger
    install_masking(logger)
    try:
        raise ValueError("bad phone 13812345678")
    except ValueError:
        logger.exception("row rejected")
    out = stream.getvalue()
    assert "Traceback" in out and "ValueError: bad phone 138****5678" in out
    assert "13812345678" not in out


def test_install_masking_is_idempotent_and_covers_child_loggers(stream_logger: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = stream_logger
    first = install_masking(logger)
    assert install_masking(logger) is first
    assert sum(isinstance(f, MaskingFilter) for f in logger.handlers[0].filters) == 1
    # A child's records skip the parent's logger filters but not its handlers' filters.
    logging.getLogger("icpwatch.test.masking.child").warning("phone %s", "13912345678")
    assert "WARNING phone 139****5678" in stream.getvalue()


def test_install_masking_on_root_handlers() -> None:
    root = logging.getLogger()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.INFO)
    try:
        masking = install_masking()
        assert masking in handler.filters
        logging.getLogger("icpwatch.somewhere").info("id %s", "110101199003071234")
        assert "id 110101********1234" in stream.getvalue()
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        root.filters[:] = [f for f in root.filters if not isinstance(f, MaskingFilter)]


def test_caplog_sees_masked_records(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("icpwatch.test.caplog")
    logger.addFilter(MaskingFilter())
    try:
        with caplog.at_level(logging.INFO, logger="icpwatch.test.caplog"):
            logger.info("phone %s", "13812345678")
        assert caplog.messages == ["phone 138****5678"]
    finally:
        logger.filters[:] = []


# --------------------------------------------------------------------------- passwords


def test_argon2id_hash_and_verify() -> None:
    stored = hash_password("Kx7pQ2mZ9a")
    assert stored.startswith("$argon2id$")
    assert "Kx7pQ2mZ9a" not in stored
    assert verify_password(stored, "Kx7pQ2mZ9a")
    assert not verify_password(stored, "Kx7pQ2mZ9b")
    assert not verify_password(stored, "")
    assert hash_password("Kx7pQ2mZ9a") != stored  # salted


def test_verify_password_rejects_non_argon2id_hashes() -> None:
    with pytest.raises(ValueError, match="not an argon2id hash"):
        verify_password("5f4dcc3b5aa765d61d8327deb882cf99", "password")
    with pytest.raises(ValueError, match="malformed"):
        verify_password("$argon2id$garbage", "password")


def test_generate_password() -> None:
    passwords = {generate_password() for _ in range(50)}
    assert len(passwords) == 50
    for password in passwords:
        assert len(password) == 12 and password.isalnum() and password.isascii()
        assert any(c.isupper() for c in password) and any(c.islower() for c in password)
        assert any(c.isdigit() for c in password)
        assert not set(password) & set("0O1lI")
    assert len(generate_password(20)) == 20
    with pytest.raises(ValueError):
        generate_password(6)


def test_bulk_forms_match_the_single_ones(protector: Protector) -> None:
    phones = ["13812345678", "+86 138 1234 5678", "010-12345678", "１３８１２３４５６７８"]
    assert protector.keyed_hashes("contact_phone", phones) == [protector.keyed_hash("contact_phone", p) for p in phones]
    tokens = protector.encrypt_many(phones)
    assert [protector.decrypt(token) for token in tokens] == phones
    nonces = {base64.urlsafe_b64decode(token[3:])[:12] for token in tokens + protector.encrypt_many(phones)}
    assert len(nonces) == 2 * len(phones)  # a fresh nonce for every value, across calls too
    assert protector.encrypt_many([]) == [] and protector.keyed_hashes("contact_id", []) == []
    with pytest.raises(ValueError):
        protector.keyed_hashes("contact_phone", ["13812345678", " - "])
