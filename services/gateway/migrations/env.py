from itsm_kit.migrations import run_env
from itsm_gateway.settings import GatewaySettings
from itsm_gateway.store import metadata

run_env(metadata, GatewaySettings)
