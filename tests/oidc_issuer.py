"""A test OpenID Connect issuer on loopback: keys generated here, discovery and JWKS served over real HTTP,
tokens signed as a provider would sign them. Rotate keys by replacing `published`; `jwks_fetches` counts."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import jwt
import uvicorn
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route


@dataclass
class SigningKey:
    kid: str
    alg: str
    private: object

    @classmethod
    def rsa(cls) -> SigningKey:
        return cls(f"rsa-{uuid.uuid4().hex[:8]}", "RS256", rsa.generate_private_key(public_exponent=65537,
                                                                                    key_size=2048))

    @classmethod
    def ec(cls) -> SigningKey:
        return cls(f"ec-{uuid.uuid4().hex[:8]}", "ES256", ec.generate_private_key(ec.SECP256R1()))

    def jwk(self) -> dict:
        algorithm = jwt.algorithms.RSAAlgorithm if self.alg == "RS256" else jwt.algorithms.ECAlgorithm
        return {**algorithm.to_jwk(self.private.public_key(), as_dict=True), "kid": self.kid, "use": "sig",
                "alg": self.alg}


@dataclass
class Issuer:
    url: str = ""
    audience: str = "itsm-api"
    published: list[SigningKey] = field(default_factory=lambda: [SigningKey.rsa(), SigningKey.ec()])
    jwks_fetches: int = 0

    def key(self, alg: str) -> SigningKey:
        return next(key for key in self.published if key.alg == alg)

    def token(self, key: SigningKey | None = None, *, lifetime: float = 300, headers: dict | None = None,
              **claims: object) -> str:
        key = key or self.published[0]
        now = int(time.time())
        body = {"iss": self.url, "aud": self.audience, "sub": "user-1", "iat": now, "nbf": now,
                "exp": now + lifetime, **claims}
        return jwt.encode({k: v for k, v in body.items() if v is not None}, key.private, algorithm=key.alg,
                          headers={"kid": key.kid, **(headers or {})})

    def app(self) -> Starlette:
        async def discovery(request):
            return JSONResponse({"issuer": self.url, "jwks_uri": f"{self.url}/keys",
                                 "id_token_signing_alg_values_supported": ["RS256", "ES256"]})

        async def keys(request):
            self.jwks_fetches += 1
            return JSONResponse({"keys": [key.jwk() for key in self.published]})

        return Starlette(routes=[Route("/.well-known/openid-configuration", discovery), Route("/keys", keys)])


@contextlib.contextmanager
def serving(issuer: Issuer | None = None) -> Iterator[Issuer]:
    """The issuer served on 127.0.0.1 (a port of its own) for the block's duration."""
    issuer = issuer or Issuer()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    issuer.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(issuer.app(), log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the test issuer did not start"
        time.sleep(0.01)
    try:
        yield issuer
    finally:
        server.should_exit = True
        thread.join(5)
        sock.close()
