"""JSON shapes of the API, for the published OpenAPI document.

Handlers parse bodies with `cairn.backup.protocol.parse_batch` (the shared contract) and write
answers directly; these models only describe them.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

KEY_PATTERN = "^[0-9a-f]{64}$"
NODE_PATTERN = "^0[23][0-9a-f]{64}$"
BASE64_PATTERN = "^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"
MAX_VERSION = 2**63 - 2


class PutItemModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str = Field(pattern=KEY_PATTERN)
    version: int = Field(ge=0, le=MAX_VERSION, description="the version last seen; 0 = create")
    value: str = Field(pattern=BASE64_PATTERN, description="sealed envelope, standard base64")


class DeleteItemModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str = Field(pattern=KEY_PATTERN)
    version: int = Field(ge=0, le=MAX_VERSION + 1)


class BatchModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    put: list[PutItemModel] = Field(default_factory=list)
    delete: list[DeleteItemModel] = Field(default_factory=list)


class BatchResultModel(BaseModel):
    generation: int
    versions: dict[str, int]


class ErrorModel(BaseModel):
    error: str
    detail: str


class ConflictModel(ErrorModel):
    current: dict[str, int]


class ObjectModel(BaseModel):
    key: str
    version: int
    value: str


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
    objects: int
    bytes: int


class DeletedModel(BaseModel):
    deleted: bool


class HealthModel(BaseModel):
    status: str


def errors(*statuses: int) -> dict[int | str, dict[str, object]]:
    """OpenAPI `responses` entries for the error answers a route can give."""
    return {status: {"model": ErrorModel} for status in statuses}
