from itsm_kit.settings import ServiceSettings, service_config


class CmdbSettings(ServiceSettings):
    model_config = service_config("cmdb")
    service = "cmdb"

    port: int = 8004
