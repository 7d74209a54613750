from itsm_kit.settings import ServiceSettings, service_config


class IncidentsSettings(ServiceSettings):
    model_config = service_config("incidents")
    service = "incidents"

    port: int = 8001
