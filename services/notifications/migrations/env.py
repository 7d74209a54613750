from itsm_kit.migrations import run_env
from itsm_notifications.settings import NotificationsSettings
from itsm_notifications.store.tables import metadata

run_env(metadata, NotificationsSettings)
