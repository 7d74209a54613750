from pathlib import Path

from itsm_kit.cli import main
from itsm_notifications.main import create_app
from itsm_notifications.settings import NotificationsSettings

main(NotificationsSettings, create_app, Path(__file__).resolve().parents[2] / "migrations")
