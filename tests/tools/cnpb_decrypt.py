#!/usr/bin/env python3
"""An independent decryptor of encrypted canopy batches, written from
docs/FORMAT.md ("Encrypted section") alone with python3-cryptography.

It shares no code with canopy (which uses mbedTLS): it checks that the
document specifies the scheme precisely. For each encrypted batch it writes
the plain batch a receiver gets after decryption: the same header and
manifest, the encrypted section replaced by the section it seals, no
signature block, the digest recomputed. cnpb_reference.py reads those.

usage: cnpb_decrypt.py PRIV.pem OUTDIR BATCH...
       cnpb_decrypt.py --explain PRIV.pem BATCH   (prints the derived values)
"""
import hashlib
import os
import struct
import sys

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

LABEL = b"canopy batch seal v1"


def point(pub):
    return pub.public_bytes(serialization.Encoding.X962,
                            serialization.PublicFormat.UncompressedPoint)


def unseal(priv, aad, body, explain=False):
    keyid, epk, rest = body[:8], body[8:73], body[73:]
    ct, tag = rest[:-16], rest[-16:]
    rpk = point(priv.public_key())
    if hashlib.sha256(rpk).digest()[:8] != keyid:
        raise ValueError("encrypted to another key")
    eph = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), epk)
    z = priv.exchange(ec.ECDH(), eph)
    okm = HKDF(algorithm=hashes.SHA256(), length=44, salt=None,
               info=LABEL + epk + rpk).derive(z)
    if explain:
        print("receiver point   ", rpk.hex())
        print("key id           ", keyid.hex())
        print("ephemeral point  ", epk.hex())
        print("shared secret Z  ", z.hex())
        print("AES-256 key      ", okm[:32].hex())
        print("nonce            ", okm[32:].hex())
        print("additional data  ", len(aad), "bytes, SHA-256", hashlib.sha256(aad).hexdigest())
    return AESGCM(okm[:32]).decrypt(okm[32:], ct + tag, aad)


def decrypt_batch(priv, data, explain=False):
    assert data[:4] == b"CNPB" and data[4] == 1, "not a canopy batch"
    assert hashlib.sha256(data[:-32]).digest() == data[-32:], "digest mismatch"
    mlen, nsec = struct.unpack_from("<II", data, 8)
    off = 16 + mlen
    out = bytearray(data[:off])
    struct.pack_into("<H", out, 6, 0)  # the plain batch is unsigned
    for _ in range(nsec):
        kind, codec, flags, count, raw, stored = struct.unpack_from("<BBHIII", data, off)
        body = data[off + 16:off + 16 + stored]
        if kind == 4:
            assert codec == 1, "unknown scheme"
            inner = unseal(priv, data[:off + 16], body, explain)
            assert len(inner) == raw, "plaintext length"
            out += inner
        else:
            out += data[off:off + 16] + body
        off += 16 + stored
    return bytes(out) + hashlib.sha256(bytes(out)).digest()


def main():
    if sys.argv[1] == "--explain":
        priv = serialization.load_pem_private_key(open(sys.argv[2], "rb").read(), None)
        decrypt_batch(priv, open(sys.argv[3], "rb").read(), True)
        return 0
    priv = serialization.load_pem_private_key(open(sys.argv[1], "rb").read(), None)
    outdir = sys.argv[2]
    for i, p in enumerate(sys.argv[3:]):
        plain = decrypt_batch(priv, open(p, "rb").read())
        with open(os.path.join(outdir, "%06d.cnp" % i), "wb") as f:
            f.write(plain)
    return 0


if __name__ == "__main__":
    sys.exit(main())
