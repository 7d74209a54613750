from itsm_kit.migrations import run_env
from itsm_sla.settings import SlaSettings
from itsm_sla.store import metadata

run_env(metadata, SlaSettings)
