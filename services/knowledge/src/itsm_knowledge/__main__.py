from pathlib import Path

from itsm_kit.cli import main
from itsm_knowledge.main import create_app
from itsm_knowledge.settings import KnowledgeSettings

main(KnowledgeSettings, create_app, Path(__file__).resolve().parents[2] / "migrations")
