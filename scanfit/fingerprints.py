"""The string hashes Keras's preprocessing layers bucket with: FarmHash's Fingerprint64 and keyed SipHash-2-4.

Keras 3 hashes through TensorFlow: ``tf.strings.to_hash_bucket_fast`` is
Fingerprint64 (FarmHash's ``farmhashna::Hash64``) of the UTF-8 bytes modulo
the bucket count, ``tf.strings.to_hash_bucket_strong`` is SipHash-2-4 keyed
with two 64-bit words, modulo the count. Both are written here from the
algorithms' descriptions, on Python integers masked to 64 bits (they serve
preprocessing on the host, not compiled programs), and checked against the
outputs Keras's documentation prints and, in the tests, against the pyfarmhash
package.
"""
import numpy as np

_MASK = (1 << 64) - 1
_K0 = 0xC3A5C85C97CB3127
_K1 = 0xB492B66FBE98F273
_K2 = 0x9AE16A3B2F90404F


def hash_buckets(values, num_buckets, salt=None):
    """Each of `values` (a NumPy array of str, or of integers, hashed as their decimal text as TensorFlow's
    ``as_string`` writes it) hashed into ``[0, num_buckets)``: Fingerprint64, or SipHash-2-4 keyed by `salt`
    (two integers), modulo `num_buckets`; an int64 array of `values`' shape."""
    array = np.asarray(values)
    texts = array.astype(str) if array.dtype.kind in "iu" else array
    if salt is None:
        hashes = [fingerprint64(text.encode("utf-8")) for text in texts.ravel().tolist()]
    else:
        key0, key1 = (int(part) & _MASK for part in salt)
        hashes = [siphash24(key0, key1, text.encode("utf-8")) for text in texts.ravel().tolist()]
    return np.array([h % num_buckets for h in hashes], dtype=np.int64).reshape(array.shape)


def sip_key(salt):
    """Keras's SipHash key from a layer's `salt`: None (no key: Fingerprint64), or a pair of ints (one int
    serves as both), as a list; a ValueError otherwise."""
    if salt is None:
        return None
    if isinstance(salt, int) and not isinstance(salt, bool):
        return [salt, salt]
    if isinstance(salt, (list, tuple)) and len(salt) == 2 and all(
            isinstance(part, int) and not isinstance(part, bool) for part in salt):
        return list(salt)
    raise ValueError(f"salt must be an int or a pair of ints (SipHash's key), got {salt!r}.")


def _rotate(value, shift):
    """`value` rotated right by `shift` bits (FarmHash's Rotate)."""
    return ((value >> shift) | (value << (64 - shift))) & _MASK if shift else value


def _word(data, at):
    return int.from_bytes(data[at:at + 8], "little")


def _word32(data, at):
    return int.from_bytes(data[at:at + 4], "little")


def _shift_mix(value):
    return value ^ (value >> 47)


def _hash_16(u, v, mul):
    a = ((u ^ v) * mul) & _MASK
    a ^= a >> 47
    b = ((v ^ a) * mul) & _MASK
    b ^= b >> 47
    return (b * mul) & _MASK


def _hash_0_to_16(data):
    size = len(data)
    if size >= 8:
        mul = _K2 + size * 2
        a = (_word(data, 0) + _K2) & _MASK
        b = _word(data, size - 8)
        c = (_rotate(b, 37) * mul + a) & _MASK
        d = ((_rotate(a, 25) + b) * mul) & _MASK
        return _hash_16(c, d, mul)
    if size >= 4:
        mul = _K2 + size * 2
        return _hash_16(size + (_word32(data, 0) << 3), _word32(data, size - 4), mul)
    if size:
        y = (data[0] + (data[size >> 1] << 8)) & 0xFFFFFFFF
        z = (size + (data[size - 1] << 2)) & 0xFFFFFFFF
        return (_shift_mix(((y * _K2) ^ (z * _K0)) & _MASK) * _K2) & _MASK
    return _K2


def _ends(data, mul, first_factor):
    """The four words both the 17-32 and the 33-64 byte hashes start from: the first two, the last two."""
    size = len(data)
    return ((_word(data, 0) * first_factor) & _MASK, _word(data, 8), (_word(data, size - 8) * mul) & _MASK,
            (_word(data, size - 16) * _K2) & _MASK)


def _hash_17_to_32(data):
    mul = _K2 + len(data) * 2
    a, b, c, d = _ends(data, mul, _K1)
    return _hash_16((_rotate((a + b) & _MASK, 43) + _rotate(c, 30) + d) & _MASK,
                    (a + _rotate((b + _K2) & _MASK, 18) + c) & _MASK, mul)


def _hash_33_to_64(data):
    size = len(data)
    mul = _K2 + size * 2
    a, b, c, d = _ends(data, mul, _K2)
    y = (_rotate((a + b) & _MASK, 43) + _rotate(c, 30) + d) & _MASK
    z = _hash_16(y, (a + _rotate((b + _K2) & _MASK, 18) + c) & _MASK, mul)
    e = (_word(data, 16) * mul) & _MASK
    f = _word(data, 24)
    g = ((y + _word(data, size - 32)) * mul) & _MASK
    h = ((z + _word(data, size - 24)) * mul) & _MASK
    return _hash_16((_rotate((e + f) & _MASK, 43) + _rotate(g, 30) + h) & _MASK,
                    (e + _rotate((f + a) & _MASK, 18) + g) & _MASK, mul)


def _weak_hash_32(data, at, a, b):
    """FarmHash's WeakHashLen32WithSeeds of the 32 bytes at `at`, seeded with `a` and `b`: a pair."""
    w, x, y, z = (_word(data, at + 8 * i) for i in range(4))
    a = (a + w) & _MASK
    b = _rotate((b + a + z) & _MASK, 21)
    c = a
    a = (a + x + y) & _MASK
    b = (b + _rotate(a, 44)) & _MASK
    return (a + z) & _MASK, (b + c) & _MASK


def fingerprint64(data):
    """FarmHash's Fingerprint64 of the bytes `data` (an int below 2**64)."""
    size = len(data)
    if size <= 16:
        return _hash_0_to_16(data)
    if size <= 32:
        return _hash_17_to_32(data)
    if size <= 64:
        return _hash_33_to_64(data)
    seed = 81
    x = seed
    y = (seed * _K1 + 113) & _MASK
    z = (_shift_mix((y * _K2 + 113) & _MASK) * _K2) & _MASK
    v = (0, 0)
    w = (0, 0)
    x = (x * _K2 + _word(data, 0)) & _MASK
    end = ((size - 1) // 64) * 64
    last = end + ((size - 1) & 63) - 63
    at = 0
    while True:
        x = (_rotate((x + y + v[0] + _word(data, at + 8)) & _MASK, 37) * _K1) & _MASK
        y = (_rotate((y + v[1] + _word(data, at + 48)) & _MASK, 42) * _K1) & _MASK
        x ^= w[1]
        y = (y + v[0] + _word(data, at + 40)) & _MASK
        z = (_rotate((z + w[0]) & _MASK, 33) * _K1) & _MASK
        v = _weak_hash_32(data, at, (v[1] * _K1) & _MASK, (x + w[0]) & _MASK)
        w = _weak_hash_32(data, at + 32, (z + w[1]) & _MASK, (y + _word(data, at + 16)) & _MASK)
        z, x = x, z
        at += 64
        if at == end:
            break
    mul = _K1 + ((z & 0xFF) << 1)
    at = last
    w = ((w[0] + ((size - 1) & 63)) & _MASK, w[1])
    v = ((v[0] + w[0]) & _MASK, v[1])
    w = ((w[0] + v[0]) & _MASK, w[1])
    x = (_rotate((x + y + v[0] + _word(data, at + 8)) & _MASK, 37) * mul) & _MASK
    y = (_rotate((y + v[1] + _word(data, at + 48)) & _MASK, 42) * mul) & _MASK
    x ^= (w[1] * 9) & _MASK
    y = (y + v[0] * 9 + _word(data, at + 40)) & _MASK
    z = (_rotate((z + w[0]) & _MASK, 33) * mul) & _MASK
    v = _weak_hash_32(data, at, (v[1] * mul) & _MASK, (x + w[0]) & _MASK)
    w = _weak_hash_32(data, at + 32, (z + w[1]) & _MASK, (y + _word(data, at + 16)) & _MASK)
    z, x = x, z
    return _hash_16((_hash_16(v[0], w[0], mul) + _shift_mix(y) * _K0 + z) & _MASK,
                    (_hash_16(v[1], w[1], mul) + x) & _MASK, mul)


def _rotate_left(value, shift):
    return ((value << shift) | (value >> (64 - shift))) & _MASK


def _sip_rounds(v0, v1, v2, v3, count):
    for _ in range(count):
        v0 = (v0 + v1) & _MASK
        v1 = _rotate_left(v1, 13) ^ v0
        v0 = _rotate_left(v0, 32)
        v2 = (v2 + v3) & _MASK
        v3 = _rotate_left(v3, 16) ^ v2
        v0 = (v0 + v3) & _MASK
        v3 = _rotate_left(v3, 21) ^ v0
        v2 = (v2 + v1) & _MASK
        v1 = _rotate_left(v1, 17) ^ v2
        v2 = _rotate_left(v2, 32)
    return v0, v1, v2, v3


def siphash24(key0, key1, data):
    """SipHash-2-4 of the bytes `data` under the 128-bit key (`key0`, `key1`) (an int below 2**64)."""
    v0, v1 = key0 ^ 0x736F6D6570736575, key1 ^ 0x646F72616E646F6D
    v2, v3 = key0 ^ 0x6C7967656E657261, key1 ^ 0x7465646279746573
    whole = len(data) - len(data) % 8
    for at in range(0, whole, 8):
        word = _word(data, at)
        v3 ^= word
        v0, v1, v2, v3 = _sip_rounds(v0, v1, v2, v3, 2)
        v0 ^= word
    last = ((len(data) & 0xFF) << 56) | int.from_bytes(data[whole:], "little")
    v3 ^= last
    v0, v1, v2, v3 = _sip_rounds(v0, v1, v2, v3, 2)
    v0 ^= last
    v2 ^= 0xFF
    v0, v1, v2, v3 = _sip_rounds(v0, v1, v2, v3, 4)
    return v0 ^ v1 ^ v2 ^ v3


def fingerprint_cat64(first, second):
    """TensorFlow's FingerprintCat64: two 64-bit fingerprints combined into one (order matters), as
    ``tf.sparse.cross_hashed`` chains the hashes of crossed features."""
    mul = 0xC6A4A7935BD1E995
    result = first ^ mul
    result ^= (_shift_mix((second * mul) & _MASK) * mul) & _MASK
    result = (result * mul) & _MASK
    result = (_shift_mix(result) * mul) & _MASK
    return _shift_mix(result)
