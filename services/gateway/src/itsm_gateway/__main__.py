import sys
from datetime import timedelta
from pathlib import Path

from itsm_kit.cli import main
from itsm_gateway.auth import issue_token
from itsm_gateway.main import create_app
from itsm_gateway.settings import GatewaySettings

if sys.argv[1:2] == ["token"]:
    # python -m itsm_gateway token SUBJECT [ROLE ...]: a bearer token signed with this gateway's key.
    subject, roles = (sys.argv[2:3] or ["admin"])[0], sys.argv[3:] or ["admin"]
    settings = GatewaySettings()
    print(issue_token(settings.jwt_secret.get_secret_value(), subject, roles, settings.jwt_audience, timedelta(days=1)))
else:
    main(GatewaySettings, create_app, Path(__file__).resolve().parents[2] / "migrations")
