from itsm_kit.settings import ServiceSettings, service_config


class SlaSettings(ServiceSettings):
    model_config = service_config("sla")
    service = "sla"

    port: int = 8005
