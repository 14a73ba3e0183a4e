"""Shared fixtures of the host tests: real servers on loopback (tools/lab/peers.py).

All are session-scoped: each server starts once (about 0.1-0.5 s) and is
stopped at the end of the run.

test_ca         peers.TestCA in a temp dir. .ca_file: PEM to trust;
                .issue(names) -> (cert_path, key_path) for any server.
other_ca        a second, unrelated TestCA: trusting it instead of test_ca
                must make every TLS check fail.
server_cert     (cert_path, key_path) issued by test_ca for
                "localhost", "127.0.0.1" and "127.0.0.2".
chrony          peers.ChronyServer: an honest chronyd (stratum 1, our own
                clock) serving NTP on 127.0.0.1:.ntp_port and NTS-KE on
                127.0.0.1:.nts_ke_port with server_cert.
chrony_offset   the same under libfaketime, 30 s ahead (.offset_s == 30),
                also with NTS.
pyrt            peers.PyRoughtimeServer: pyroughtime (Roughtime draft 07).
https           peers.HttpsServer with server_cert: an honest HTTPS Date source.
postgres        pgserver.PostgresServer: a real PostgreSQL (audit-log tests).
"""

import pytest

import peers


@pytest.fixture(scope="session")
def test_ca(tmp_path_factory):
    return peers.TestCA(str(tmp_path_factory.mktemp("test-ca")))


@pytest.fixture(scope="session")
def other_ca(tmp_path_factory):
    return peers.TestCA(str(tmp_path_factory.mktemp("other-ca")), name="unrelated CA")


@pytest.fixture(scope="session")
def server_cert(test_ca):
    return test_ca.issue(("localhost", "127.0.0.1", "127.0.0.2"))


@pytest.fixture(scope="session")
def chrony(server_cert):
    cert, key = server_cert
    server = peers.start_chrony(nts_ke_port=0, cert=cert, key=key)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def chrony_offset(server_cert):
    cert, key = server_cert
    server = peers.start_chrony(nts_ke_port=0, cert=cert, key=key, offset_s=30)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def pyrt():
    server = peers.PyRoughtimeServer()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def https(server_cert):
    with peers.HttpsServer(*server_cert) as srv:
        yield srv


@pytest.fixture(scope="session")
def postgres():
    """pgserver.PostgresServer: a real PostgreSQL on 127.0.0.1 (.url, .new_database(), .sql())."""
    import pgserver

    server = pgserver.PostgresServer()
    yield server
    server.stop()
