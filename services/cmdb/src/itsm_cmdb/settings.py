from pydantic import Field

from itsm_kit.settings import ServiceSettings, service_config


class CmdbSettings(ServiceSettings):
    model_config = service_config("cmdb")
    service = "cmdb"

    port: int = 8004
    # A discovery import carries thousands of CIs and relationships in one body.
    import_max_body_bytes: int = 32 * 1024 * 1024
    # How often CIs discovery no longer finds are looked for (sources' retire_missing_after); 0: never here.
    missing_sweep_seconds: float = Field(default=60, ge=0)
    missing_sweep_batch_size: int = Field(default=200, ge=1)
