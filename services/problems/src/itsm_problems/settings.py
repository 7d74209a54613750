from itsm_kit.settings import ServiceSettings, service_config


class ProblemsSettings(ServiceSettings):
    model_config = service_config("problems")
    service = "problems"

    port: int = 8003
