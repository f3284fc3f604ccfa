#!/usr/bin/env python3
"""TLS in front of the local peers (the benchmark's first-event phase, and the TLS test).

The peers speak plain HTTP; on Lambda every connection to DynamoDB and Cloudflare is TLS, and the
first request after a cold start pays the handshake unless the function opened the connection during
init. To measure that, this proxy terminates TLS (a throwaway CA and a `localhost` certificate made at
start) and forwards the bytes unchanged to each upstream, so keep-alive works end to end.

Usage: tls_proxy.py --ca-out CA.pem --forward 127.0.0.1:PORT [--forward ...]
Prints one JSON line: {"127.0.0.1:PORT": "https://localhost:LISTEN", ...}; runs until killed.
"""
import argparse
import asyncio
import datetime
import ipaddress
import json
import os
import ssl
import tempfile

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def make_certificates(ca_out: str) -> ssl.SSLContext:
    """A CA (written to `ca_out`, for the clients to trust) and a leaf for localhost / 127.0.0.1."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vinofy bench CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = lambda c: c.public_bytes(serialization.Encoding.PEM)  # noqa: E731
    with open(ca_out, "wb") as f:
        f.write(pem(ca))
    with tempfile.TemporaryDirectory() as d:
        chain, key_path = os.path.join(d, "chain.pem"), os.path.join(d, "key.pem")
        with open(chain, "wb") as f:
            f.write(pem(leaf) + pem(ca))
        with open(key_path, "wb") as f:
            f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(chain, key_path)
    # Both clients negotiate HTTP/1.1 (the peers behind speak nothing else).
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, ssl.SSLError):
        pass
    finally:
        try:
            writer.close()
        except (ConnectionError, ssl.SSLError):
            pass


async def serve(forwards: list[str], ctx: ssl.SSLContext) -> None:
    mapping, servers = {}, []
    for upstream in forwards:
        host, port = upstream.rsplit(":", 1)

        async def handle(reader, writer, host=host, port=int(port)):
            try:
                up_reader, up_writer = await asyncio.open_connection(host, port)
            except OSError:
                writer.close()
                return
            await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))

        server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=ctx)
        servers.append(server)
        mapping[upstream] = f"https://localhost:{server.sockets[0].getsockname()[1]}"
    print(json.dumps(mapping), flush=True)
    await asyncio.gather(*(s.serve_forever() for s in servers))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ca-out", required=True)
    ap.add_argument("--forward", action="append", required=True)
    args = ap.parse_args()
    asyncio.run(serve(args.forward, make_certificates(args.ca_out)))


if __name__ == "__main__":
    main()
