"""JSON shapes of the API, for the published OpenAPI document.

Handlers parse bodies with `cairn.wire.messages.parse_batch` (the shared contract) and write
answers directly; these models only describe them.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

KEY_PATTERN = "^[0-9a-f]{64}$"
NODE_PATTERN = "^0[23][0-9a-f]{64}$"
BASE64_PATTERN = "^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"
ID16_PATTERN = "^[0-9a-f]{32}$"
MAX_VERSION = 2**63 - 1


class PutItemModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str = Field(pattern=KEY_PATTERN)
    version: int = Field(ge=0, le=MAX_VERSION, description="the version last seen; 0 = absent")
    value: str = Field(pattern=BASE64_PATTERN, description="sealed envelope, standard base64")


class DeleteItemModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str = Field(pattern=KEY_PATTERN)
    version: int = Field(ge=0, le=MAX_VERSION)
    value: str = Field(pattern=BASE64_PATTERN, description="sealed tombstone, standard base64")


class BatchModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    incarnation: str = Field(pattern=ID16_PATTERN)
    generation: int = Field(ge=0, le=MAX_VERSION, description="the generation last seen")
    write_id: str = Field(pattern=ID16_PATTERN)
    put: list[PutItemModel] = Field(default_factory=list)
    delete: list[DeleteItemModel] = Field(default_factory=list)


class BatchResultModel(BaseModel):
    generation: int
    versions: dict[str, int]


class ErrorModel(BaseModel):
    error: str
    detail: str


class ConflictModel(ErrorModel):
    generation: int
    incarnation: str | None
    erased: bool
    current: dict[str, int]
    write_ids: dict[str, str | None]


class ResyncModel(ErrorModel):
    generation: int
    incarnation: str | None
    erased: bool
    compacted: int


class ObjectModel(BaseModel):
    key: str
    version: int
    write_id: str | None
    value: str


class FeedItemModel(BaseModel):
    key: str
    version: int
    deleted: bool
    write_id: str | None
    value: str


class FeedPageModel(BaseModel):
    incarnation: str | None
    erased: bool
    generation: int
    compacted: int
    items: list[FeedItemModel]
    next: int | None


class ListItemModel(BaseModel):
    key: str
    version: int
    size: int


class ListPageModel(BaseModel):
    items: list[ListItemModel]
    next: str | None


class StoreInfoModel(BaseModel):
    node_id: str
    store_id: str
    generation: int
    incarnation: str | None
    erased: bool
    compacted: int
    objects: int
    bytes: int


class DeletedModel(BaseModel):
    deleted: bool


class HealthModel(BaseModel):
    status: str


def errors(*statuses: int) -> dict[int | str, dict[str, object]]:
    """OpenAPI `responses` entries for the error answers a route can give."""
    return {status: {"model": ErrorModel} for status in statuses}
