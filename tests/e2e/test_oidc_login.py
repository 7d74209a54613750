"""Signing in with the organisation's OpenID Connect provider, end to end: a gateway process configured with a
test issuer on loopback (keys generated here, discovery and JWKS over real HTTP) takes its tokens, reads roles
from Keycloak's nested claim through a role map, and records the user as the actor in the incidents service."""

from __future__ import annotations

import json
import time
import uuid

import httpx
import pytest

from tests.helpers import gateway_replica, token
from tests.oidc_issuer import SigningKey, serving

pytestmark = pytest.mark.e2e


def bearer(value: str) -> dict[str, str]:
    return {"authorization": f"Bearer {value}"}


async def test_a_providers_users_sign_in_with_mapped_roles_and_act_as_themselves(platform):
    with serving() as issuer, gateway_replica(
            platform, "gateway-oidc", 50, oidc_issuer=issuer.url, oidc_audience=issuer.audience,
            roles_claim="realm_access.roles", role_map=json.dumps({"itsm-agents": "agent", "itsm-admins": "admin"})
    ) as url:
        subject = f"oidc-admin-{uuid.uuid4().hex[:8]}"
        agent = issuer.token(issuer.key("ES256"), sub="oidc-agent", realm_access={"roles": ["itsm-agents"]})
        admin = issuer.token(issuer.key("RS256"), sub=subject, realm_access={"roles": ["itsm-admins"]})
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            # Roles come from the map: the agent may not do admin work, the mapped admin may.
            refused = await client.post("/api/v1/integrations", headers=bearer(agent),
                                        json={"name": f"oidc-{subject}", "kind": "generic"})
            assert refused.status_code == 403, refused.text
            created = await client.post("/api/v1/integrations", headers=bearer(admin),
                                        json={"name": f"oidc-{subject}", "kind": "generic"})
            assert created.status_code == 201, created.text
            assert created.json()["created_by"] == subject  # the provider's user, not a shared account

            # A token the provider did not sign, or for another audience, is a 401 problem.
            impostor = SigningKey.ec()
            impostor.kid = issuer.key("ES256").kid
            for forged in (issuer.token(impostor, realm_access={"roles": ["itsm-admins"]}),
                           issuer.token(aud="another-app", realm_access={"roles": ["itsm-admins"]}),
                           issuer.token(exp=int(time.time()) - 600, realm_access={"roles": ["itsm-admins"]})):
                response = await client.get("/api/v1/integrations", headers=bearer(forged))
                assert response.status_code == 401, response.text
                assert response.headers["content-type"] == "application/problem+json"

            # The gateway's own HS256 tokens (what `make run` prints) still work beside the provider.
            assert (await client.get("/api/v1/integrations", headers=bearer(token()))).status_code == 200

            spec = (await client.get("/openapi.json")).json()
            assert spec["components"]["securitySchemes"]["OpenIdConnect"]["openIdConnectUrl"] == (
                f"{issuer.url}/.well-known/openid-configuration")
        assert issuer.jwks_fetches == 1  # one fetch served every token
