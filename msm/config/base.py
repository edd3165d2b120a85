"""What every recipe section is: a pydantic model that refuses fields nothing reads."""

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")
