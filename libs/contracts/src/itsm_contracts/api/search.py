"""Search that ranks (issue 18): each service's ranked search of its own records, and the gateway's one list of all.

A text finds a record when each of its words is in the record's text (by its stem: "outages" finds "outage") or
approximately in its title (a misspelled word: "netwrok" finds "network"), or when it is the record's number.
`score`: higher is better (title matches count more than body matches); comparable across record types.
`highlight`: the matched part of the title and body, HTML-escaped, the matched words in <mark>...</mark>.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from itsm_contracts.api.knowledge import Reader
from itsm_contracts.api.values import WholeNumber
from itsm_contracts.events.knowledge import Audience

SearchText = Annotated[str, Field(min_length=1, max_length=200, pattern=r"\S",
                                  description="What to look for: words (any order), a number, misspellings welcome")]
SearchLimit = Annotated[WholeNumber, Field(ge=1, le=50, description="How many hits at most, best first")]


class SearchQuery(BaseModel):
    q: SearchText
    limit: SearchLimit = 20


class IncidentSearchQuery(SearchQuery):
    caller: str | None = Field(default=None, max_length=100, description="Only this caller's incidents")


class ArticleSearchQuery(SearchQuery):
    reader: Reader = Field(default="requester", description="Who reads (set by the gateway from the caller's role): "
                                                             "only the published articles they may read are found")


class Hit(BaseModel):
    id: str
    number: str
    short_description: str
    state: str
    score: float
    highlight: str


class IncidentHit(Hit):
    priority: int
    caller: str | None = None


class ProblemHit(Hit):
    priority: int


class ChangeHit(Hit):
    change_type: str


class ArticleHit(Hit):
    """A published knowledge article (short_description: its title)."""

    audience: Audience


RecordType = Literal["incident", "problem", "change", "article"]


class SearchHit(BaseModel):
    record_type: RecordType
    id: str
    number: str
    title: str
    state: str
    highlight: str
    score: float


class SearchResults(BaseModel):
    items: list[SearchHit] = Field(description="Best first, every record type ranked together")
    partial: list[RecordType] = Field(
        default_factory=list, description="Record types left out because their service failed or was late")
