from pydantic import Field

from itsm_kit.settings import ServiceSettings, service_config


class KnowledgeSettings(ServiceSettings):
    model_config = service_config("knowledge")
    service = "knowledge"

    port: int = 8008
    # Bounds of what writers send (Markdown; rendered and sanitised at save).
    max_article_bytes: int = Field(default=200_000, ge=1024, le=2_000_000)
    max_tags: int = Field(default=20, ge=1, le=100)
    # A published article is due for review this many days after it was published (or last reviewed).
    review_after_days: int = Field(default=365, ge=1, le=3650)
