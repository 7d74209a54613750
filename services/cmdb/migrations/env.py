from itsm_kit.migrations import run_env
from itsm_cmdb.settings import CmdbSettings
from itsm_cmdb.store import metadata

run_env(metadata, CmdbSettings)
