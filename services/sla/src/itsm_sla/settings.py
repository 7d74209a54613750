from pydantic import Field

from itsm_kit.settings import ServiceSettings, service_config


class SlaSettings(ServiceSettings):
    model_config = service_config("sla")
    service = "sla"

    port: int = 8005
    # The scheduler sleeps until the next alarm is due, at most this long (other replicas'
    # new timers wake their own scheduler, not this one), and takes due alarms in batches.
    scheduler_enabled: bool = True
    scheduler_max_sleep_seconds: float = Field(default=2.0, gt=0)
    scheduler_batch_size: int = Field(default=500, ge=1)
    # Incidents replayed per transaction by a repair.
    repair_batch_size: int = Field(default=200, ge=1)
