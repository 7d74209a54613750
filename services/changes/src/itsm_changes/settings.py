from itsm_kit.settings import ServiceSettings, service_config


class ChangesSettings(ServiceSettings):
    model_config = service_config("changes")
    service = "changes"

    port: int = 8002
