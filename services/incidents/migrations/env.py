from itsm_kit.migrations import run_env
from itsm_incidents.settings import IncidentsSettings
from itsm_incidents.store import metadata

run_env(metadata, IncidentsSettings)
