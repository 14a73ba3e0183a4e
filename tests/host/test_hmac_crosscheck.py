# HMAC-SHA256 of the firmware against Python's hmac (OpenSSL), for keys and
# messages of every length class, and crypto_verify against ==.
import hashlib
import hmac

from hypothesis import given, settings
from hypothesis import strategies as st

from pot.hmacsha256 import HmacKey, crypto_verify, hmac_sha256


@settings(max_examples=300, deadline=None)
@given(key=st.binary(max_size=200), msg=st.binary(max_size=300), cut=st.integers(0, 300))
def test_matches_python_hmac(key, msg, cut):
    want = hmac.new(key, msg, hashlib.sha256).digest()
    assert hmac_sha256(key, msg) == want
    cut = min(cut, len(msg))
    for use_copy in (False, True):
        assert HmacKey(key, use_copy=use_copy).mac(msg[:cut], msg[cut:]) == want


@settings(max_examples=300, deadline=None)
@given(a=st.binary(max_size=40), b=st.binary(max_size=40))
def test_crypto_verify_is_equality(a, b):
    assert crypto_verify(a, b) == (a == b)
    assert crypto_verify(a, a)
