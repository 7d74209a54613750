from itsm_kit.migrations import run_env
from itsm_changes.settings import ChangesSettings
from itsm_changes.store import metadata

run_env(metadata, ChangesSettings)
