from pathlib import Path

from itsm_kit.cli import main
from itsm_requests.main import create_app
from itsm_requests.settings import RequestsSettings

main(RequestsSettings, create_app, Path(__file__).resolve().parents[2] / "migrations")
