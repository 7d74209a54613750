from pathlib import Path

from itsm_kit.cli import main
from itsm_incidents.main import create_app
from itsm_incidents.settings import IncidentsSettings

main(IncidentsSettings, create_app, Path(__file__).resolve().parents[2] / "migrations")
