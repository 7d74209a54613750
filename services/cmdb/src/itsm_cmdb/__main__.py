from pathlib import Path

from itsm_kit.cli import main
from itsm_cmdb.main import create_app
from itsm_cmdb.settings import CmdbSettings

main(CmdbSettings, create_app, Path(__file__).resolve().parents[2] / "migrations")
