from pathlib import Path

from itsm_kit.cli import main
from itsm_problems.main import create_app
from itsm_problems.settings import ProblemsSettings

main(ProblemsSettings, create_app, Path(__file__).resolve().parents[2] / "migrations")
