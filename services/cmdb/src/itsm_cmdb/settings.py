from itsm_kit.settings import ServiceSettings, service_config


class CmdbSettings(ServiceSettings):
    model_config = service_config("cmdb")
    service = "cmdb"

    port: int = 8004
    # A discovery import carries thousands of CIs and relationships in one body.
    import_max_body_bytes: int = 32 * 1024 * 1024
