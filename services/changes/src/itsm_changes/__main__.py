from pathlib import Path

from itsm_kit.cli import main
from itsm_changes.main import create_app
from itsm_changes.settings import ChangesSettings

main(ChangesSettings, create_app, Path(__file__).resolve().parents[2] / "migrations")
