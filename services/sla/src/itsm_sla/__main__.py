from pathlib import Path

from itsm_kit.cli import main
from itsm_sla.main import create_app
from itsm_sla.settings import SlaSettings

main(SlaSettings, create_app, Path(__file__).resolve().parents[2] / "migrations")
