from pydantic import Field

from itsm_kit.settings import ServiceSettings, service_config


class IncidentsSettings(ServiceSettings):
    model_config = service_config("incidents")
    service = "incidents"

    port: int = 8001
    # An alert is read the moment it arrives: the time to its incident is what monitoring waits on.
    consumer_linger_seconds: float = Field(default=0.0, ge=0, le=1)
    # Two transactions side by side, so that one's Python and the other's SQL overlap: the alert path alone (the
    # services downstream stopped) went from about 2,000 to 2,300 alerts/s on two cores.
    consumer_lanes: int = Field(default=2, ge=1, le=16)
    # A resolved incident may be reopened (Resolved -> In Progress) this long after resolution.
    reopen_window_days: float = Field(default=7, ge=0)
    # Resolved incidents close by themselves after this long (ServiceNow's glide.ui.autoclose.time); 0 disables.
    auto_close_days: float = Field(default=7, ge=0)
    auto_close_interval_seconds: float = Field(default=60, gt=0)
    auto_close_batch_size: int = Field(default=200, ge=1)
