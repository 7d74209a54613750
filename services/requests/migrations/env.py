from itsm_kit.migrations import run_env
from itsm_requests.settings import RequestsSettings
from itsm_requests.store.tables import metadata

run_env(metadata, RequestsSettings)
