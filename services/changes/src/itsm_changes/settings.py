from pydantic import Field

from itsm_kit.settings import ServiceSettings, service_config


class ChangesSettings(ServiceSettings):
    model_config = service_config("changes")
    service = "changes"

    port: int = 8002
    # risk (issue 15): business hours (Mon-Fri 08:00-18:00) are in this timezone; an incident opened on a changed CI
    # (or one depending on it) within this many hours after implementation is suspected to be caused by the change.
    business_hours_timezone: str = "UTC"
    suspect_window_hours: float = Field(default=24, gt=0)
