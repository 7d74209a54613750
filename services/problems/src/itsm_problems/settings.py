from pydantic import Field

from itsm_kit.settings import ServiceSettings, service_config


class ProblemsSettings(ServiceSettings):
    model_config = service_config("problems")
    service = "problems"

    port: int = 8003
    # How long the copy of each incident (and its link suggestions) is kept: detection looks back at most 30 days,
    # the known error impact report 52 weeks before a publication. Older rows are deleted by a periodic job.
    observation_retention_days: float = Field(default=730, ge=31)
    observation_prune_interval_seconds: float = Field(default=3600, gt=0)
    observation_prune_batch_size: int = Field(default=5000, ge=1)
