from pydantic import Field

from itsm_kit.settings import ServiceSettings, service_config


class RequestsSettings(ServiceSettings):
    model_config = service_config("requests")
    service = "requests"

    port: int = 8007
    # Bounds of what admins write and requesters send (a form is JSON Schema; answers are checked against it).
    max_form_bytes: int = Field(default=65_536, ge=1024, le=1_048_576)
    max_answers_bytes: int = Field(default=65_536, ge=1024, le=1_048_576)
    max_items_per_request: int = Field(default=20, ge=1, le=200)
    max_dispatch_rules: int = Field(default=2000, ge=1, le=100_000)
