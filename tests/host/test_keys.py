"""Issuer key files: creation, permissions, formats, provisioning (potkit.keys)."""
import json
import os
import stat
import subprocess
import sys

import pytest

from potkit import PotkitError, cli, keys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_keygen_writes_0600_key_and_public_key_beside_it(tmp_path):
    d = str(tmp_path)
    path = os.path.join(d, "issuer.key")
    old = os.umask(0)  # even a permissive umask must not widen the key's mode
    try:
        assert cli.main(["keygen", "--key", path]) == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    public = keys.load_public_key(path)
    sk = keys.load_signing_key(path)
    assert bytes(sk.verify_key) == public
    with open(path + ".pub") as f:
        assert f.read() == public.hex() + "\n"
    # No temporary file is left behind.
    assert sorted(os.listdir(d)) == ["issuer.key", "issuer.key.pub"]


def test_keygen_never_overwrites_without_force(tmp_path):
    d = str(tmp_path)
    path = os.path.join(d, "k")
    keys.generate_keypair(path)
    with open(path, "rb") as f:
        before = f.read()
    with pytest.raises(PotkitError, match="exists"):
        keys.generate_keypair(path)
    assert cli.main(["keygen", "--key", path]) == 2
    with open(path, "rb") as f:
        assert f.read() == before
    new_public = keys.generate_keypair(path, force=True)
    with open(path, "rb") as f:
        assert f.read() != before
    assert keys.load_public_key(path) == new_public
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_existing_public_key_also_blocks_keygen(tmp_path):
    d = str(tmp_path)
    path = os.path.join(d, "k")
    with open(path + ".pub", "w") as f:
        f.write("00" * 32 + "\n")
    with pytest.raises(PotkitError, match="exists"):
        keys.generate_keypair(path)
    assert not os.path.exists(path)


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660, 0o700 | 0o004])
def test_issuer_refuses_key_readable_by_group_or_others(mode, tmp_path):
    d = str(tmp_path)
    path = os.path.join(d, "k")
    keys.generate_keypair(path)
    os.chmod(path, mode)
    with pytest.raises(PotkitError, match="group/others"):
        keys.load_signing_key(path)
    os.chmod(path, 0o600)
    keys.load_signing_key(path)
    os.chmod(path, 0o400)  # read-only for the owner is fine
    keys.load_signing_key(path)


def test_serve_refuses_world_readable_key_through_the_cli(tmp_path):
    d = str(tmp_path)
    path = os.path.join(d, "k")
    keys.generate_keypair(path)
    os.chmod(path, 0o644)
    p = subprocess.run([sys.executable, "-m", "potkit.cli", "serve", "--key", path, "--http", "127.0.0.1:0"],
                       capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT + "/host", ROOT + "/firmware"])))
    assert p.returncode == 2
    assert "group/others" in p.stderr


def test_private_key_is_rfc8410_pkcs8_that_cryptography_reads(tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    d = str(tmp_path)
    path = os.path.join(d, "k")
    public = keys.generate_keypair(path)
    with open(path, "rb") as f:
        pem = f.read()
    key = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(key, Ed25519PrivateKey)
    raw_pub = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert raw_pub == public
    # And the other way: a key written by cryptography loads in potkit.
    other = Ed25519PrivateKey.generate()
    pem2 = other.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                               serialization.NoEncryption())
    seed = keys.decode_private_pem(pem2.decode())
    assert seed == other.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                       serialization.NoEncryption())


@pytest.mark.parametrize("text", [
    "",
    "-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n",
    "-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n",
    # a P-256 style prefix: right size, wrong algorithm
    keys.encode_private_pem(bytes(32)).replace("MC4CAQAwBQYDK2VwBCIEI", "MC4CAQAwBQYDK2VuBCIEI"),
    "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n",
])
def test_malformed_private_key_files_are_refused(text):
    with pytest.raises(PotkitError):
        keys.decode_private_pem(text)


def test_pubkey_prints_hex_and_writes_provisioning_file(capsys, tmp_path):
    d = str(tmp_path)
    path = os.path.join(d, "k")
    public = keys.generate_keypair(path)
    assert cli.main(["pubkey", "--key", path]) == 0
    assert capsys.readouterr().out.strip() == public.hex()
    out = os.path.join(d, "board.json")
    assert cli.main(["pubkey", "--key", path, "--device-id", "board-7", "--issuer-url", "tcp://10.0.0.2:8123",
                     "--skew-ms", "250", "-o", out]) == 0
    with open(out) as f:
        doc = json.load(f)
    assert doc == {"profile": 1, "issuer_public_key": public.hex(), "device_id": "board-7",
                   "ctx": "0007626f6172642d37", "issuer_url": "tcp://10.0.0.2:8123", "skew_ms": 250}
    # The provisioning ctx is the firmware's device context.
    from pot import grg

    assert bytes.fromhex(doc["ctx"]) == grg.context_device("board-7")
    # Not overwritten without --force.
    assert cli.main(["pubkey", "--key", path, "--device-id", "other", "-o", out]) == 2
    assert cli.main(["pubkey", "--key", path, "--device-id", "other", "-o", out, "--force"]) == 0


def test_pubkey_without_pub_file_derives_from_private_key(tmp_path):
    d = str(tmp_path)
    path = os.path.join(d, "k")
    public = keys.generate_keypair(path)
    os.unlink(path + ".pub")
    assert keys.load_public_key(path) == public


def test_unreadable_files_are_clear_errors(capsys, tmp_path):
    d = str(tmp_path)
    # Not text: a clear error, not a UnicodeDecodeError traceback.
    path = os.path.join(d, "k")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b"\xff\xfe\x00binary")
    os.close(fd)
    with pytest.raises(PotkitError, match="cannot read key file"):
        keys.load_signing_key(path)
    os.unlink(path)  # a .pub alone (a provisioning machine without the private key)
    with open(path + ".pub", "wb") as f:
        f.write(b"\xff" * 65)
    with pytest.raises(PotkitError, match="cannot read public key file"):
        keys.load_public_key(path)
    # A directory that does not exist: keygen and pubkey -o say so.
    missing = os.path.join(d, "no-such-dir", "k")
    with pytest.raises(PotkitError, match="cannot write"):
        keys.generate_keypair(missing)
    assert cli.main(["keygen", "--key", missing]) == 2
    keys.generate_keypair(os.path.join(d, "good"))
    assert cli.main(["pubkey", "--key", os.path.join(d, "good"), "--device-id", "b",
                     "-o", os.path.join(d, "no-such-dir", "b.json")]) == 2
    assert capsys.readouterr().err.count("potkit: cannot write") == 2


def test_device_id_bounds():
    with pytest.raises(PotkitError):
        keys.device_context("")
    with pytest.raises(PotkitError):
        keys.device_context("x" * 65)
    assert keys.device_context("x" * 64)[:2] == b"\x00\x40"
    from pot import grg

    assert keys.device_context("b", b"hello") == grg.context_message("b", b"hello")
    with pytest.raises(PotkitError):
        keys.device_context("", b"hello")
