"""Ciphers of declared IDs: AES-CBC (campaign-compatible) and AES-SIV (authenticated)."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given
from hypothesis import strategies as st

from audiencehub.errors import DecryptionFailed, InvalidKey
from audiencehub.identity import AesCbcCipher, AesSivCipher

KEY = "000102030405060708090a0b0c0d0e0f"
IV = "0f0e0d0c0b0a09080706050403020100"
SIV_KEY = "11" * 32


def test_cbc_matches_the_standard_algorithm():
    """Output is AES-CBC with PKCS#7 padding, in lowercase hex, computed independently."""
    plain = b"jo@example.com" + bytes([2, 2])  # PKCS#7 pads 14 bytes with two 0x02
    encryptor = Cipher(algorithms.AES(bytes.fromhex(KEY)), modes.CBC(bytes.fromhex(IV))).encryptor()
    expected = (encryptor.update(plain) + encryptor.finalize()).hex()
    assert AesCbcCipher.from_hex(KEY, IV).encrypt("jo@example.com") == expected


def test_cbc_is_deterministic_and_accepts_a_leading_x():
    """Same input, same output; decryption takes the hex with or without 'x'."""
    cipher = AesCbcCipher.from_hex(KEY, IV)
    sealed = cipher.encrypt("jo@example.com")
    assert sealed == cipher.encrypt("jo@example.com")
    assert sealed == sealed.lower()
    assert cipher.decrypt("x" + sealed) == cipher.decrypt(sealed) == "jo@example.com"


@given(st.text(), st.sampled_from([16, 24, 32]))
def test_cbc_round_trips(value, key_bytes):
    """Encrypt then decrypt gives the input, for every key size."""
    cipher = AesCbcCipher.from_hex("ab" * key_bytes, IV)
    assert cipher.decrypt(cipher.encrypt(value)) == value


@pytest.mark.parametrize(
    ("ciphertext", "reason"),
    [
        ("zz", "not hexadecimal"),
        ("abcd", "not a whole number of 16-byte blocks"),
        ("", "empty"),
    ],
)
def test_cbc_bad_ciphertext_says_why(ciphertext, reason):
    """Malformed ciphertext is refused with the reason."""
    with pytest.raises(DecryptionFailed, match=reason):
        AesCbcCipher.from_hex(KEY, IV).decrypt(ciphertext)


def test_cbc_wrong_key_is_an_error_not_garbage():
    """Decrypting with another key fails the padding or UTF-8 check."""
    sealed = AesCbcCipher.from_hex(KEY, IV).encrypt("jo@example.com")
    with pytest.raises(DecryptionFailed, match="wrong key"):
        AesCbcCipher.from_hex("ff" * 16, IV).decrypt(sealed)


@pytest.mark.parametrize(
    ("key", "iv", "reason"),
    [
        ("00" * 15, IV, "120 bits; it must be 128, 192, 256 bits"),
        ("xyz", IV, "not hexadecimal"),
        (KEY, "00" * 8, "IV is 64 bits"),
    ],
)
def test_bad_keys_are_refused_without_echoing_them(key, iv, reason):
    """Key errors name the problem and never the key."""
    with pytest.raises(InvalidKey, match=reason) as caught:
        AesCbcCipher.from_hex(key, iv)
    assert key not in str(caught.value) or len(key) < 4


def test_keys_never_show_in_repr():
    """A cipher's repr leaks neither key nor IV."""
    text = repr(AesCbcCipher.from_hex(KEY, IV)) + repr(AesSivCipher.from_hex(SIV_KEY, "k1"))
    assert KEY not in text and IV not in text and SIV_KEY not in text


@given(st.text())
def test_siv_round_trips_and_is_deterministic(value):
    """AES-SIV gives the same output for the same input, and decrypts it back."""
    cipher = AesSivCipher.from_hex(SIV_KEY, "k1")
    sealed = cipher.encrypt(value)
    assert sealed.startswith("k1.")
    assert sealed == cipher.encrypt(value)
    assert cipher.decrypt(sealed) == value


def test_siv_refuses_tampered_values():
    """Flipping one bit of the ciphertext is detected."""
    cipher = AesSivCipher.from_hex(SIV_KEY)
    sealed = bytearray(bytes.fromhex(cipher.encrypt("jo@example.com")))
    sealed[-1] ^= 1
    with pytest.raises(DecryptionFailed, match="fails authentication"):
        cipher.decrypt(sealed.hex())


def test_siv_refuses_values_from_another_key():
    """A value sealed under another key fails authentication."""
    sealed = AesSivCipher.from_hex("22" * 32).encrypt("jo@example.com")
    with pytest.raises(DecryptionFailed, match="fails authentication"):
        AesSivCipher.from_hex(SIV_KEY).decrypt(sealed)


def test_siv_rotation_reads_old_key_ids():
    """A cipher holding the previous key decrypts values sealed under its id."""
    old = AesSivCipher.from_hex("33" * 32, "k1")
    sealed = old.encrypt("jo@example.com")
    current = AesSivCipher(bytes.fromhex(SIV_KEY), "k2", {"k1": old.key})
    assert current.decrypt(sealed) == "jo@example.com"
    assert current.encrypt("jo@example.com").startswith("k2.")
    with pytest.raises(DecryptionFailed, match="key id 'k9'"):
        current.decrypt("k9." + sealed.split(".")[1])


def test_siv_key_id_is_bound_to_the_ciphertext():
    """Relabelling a value with another key id is detected."""
    cipher = AesSivCipher(bytes.fromhex(SIV_KEY), "k2", {"k1": bytes.fromhex(SIV_KEY)})
    sealed = cipher.encrypt("jo@example.com")
    with pytest.raises(DecryptionFailed, match="fails authentication"):
        cipher.decrypt("k1." + sealed.split(".")[1])
