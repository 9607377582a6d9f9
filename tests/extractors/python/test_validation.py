"""Validation models: pydantic v1 and v2, SQLModel, dataclasses, attrs, marshmallow (fixture app
``tests/fixtures/models/validation``; the store is shared with tests/extractors/python/test_orm.py)."""

from __future__ import annotations

import pytest

from tests.extractors.python.test_orm import doc_sql, golden_check, one, query, rows


@pytest.mark.parametrize("case", ["validation"])
def test_golden(case: str) -> None:
    golden_check(case)


def test_pydantic_v2_model_inheriting_from_a_base_in_another_module() -> None:
    user = one("validation_models", fqn="schemas.users.UserIn")
    assert (user["framework"], user["pydantic_version"], user["parent_models"]) == (
        "pydantic",
        "v2",
        ["schemas.base.APIModel"],
    )
    assert one("validation_models", fqn="schemas.base.APIModel")["options"] == ["frozen=True", "extra=forbid"]
    fields = {f["name"]: f for f in rows("validation_fields", model="schemas.users.UserIn")}
    assert set(fields) == {
        "name",
        "email",
        "age",
        "tags",
        "nickname",
        "address",
        "request_id",
    }  # no _secret, MAX_TAGS
    assert (fields["name"]["required"], fields["name"]["alias"]) == (True, "userName")  # Field(..., alias=)
    assert (fields["age"]["required"], fields["age"]["nullable"], fields["age"]["default"]) == (
        False,
        True,
        "None",
    )
    assert (fields["nickname"]["required"], fields["nickname"]["nullable"]) == (True, True)  # v2: no default
    assert (fields["tags"]["required"], fields["tags"]["default_factory"]) == (False, "list")
    assert fields["address"]["ref"] == "schemas.users.Address"
    assert (fields["request_id"]["declared_in"], fields["request_id"]["inherited"]) == (
        "schemas.base.APIModel",
        True,
    )
    assert fields["request_id"]["path"] == "schemas/base.py"
    assert one("validation_fields", model="schemas.users.Address", name="zip_code")["alias"] == "zip"
    # a subclass two levels down gets everything, its own field first
    out = [f["name"] for f in rows("validation_fields", model="schemas.users.UserOut")]
    assert len(out) == 8 and "id" in out


def test_pydantic_validators() -> None:
    strip = one("validation_validators", model="schemas.users.UserIn", name="strip")
    assert (strip["kind"], strip["fields"], strip["mode"]) == ("field_validator", ["name", "email"], "before")
    check = one("validation_validators", model="schemas.users.UserIn", name="check")
    assert (check["kind"], check["fields"], check["mode"]) == ("model_validator", [], "after")
    positive = one("validation_validators", model="legacy.Item", name="positive")
    assert (positive["kind"], positive["fields"], positive["mode"]) == ("validator", ["price"], "before")
    assert one("validation_validators", model="legacy.Item", name="whole")["kind"] == "root_validator"
    assert not rows("validation_validators", model="schemas.users.UserOut")  # declared on UserIn only


def test_pydantic_v1_models() -> None:
    item = one("validation_models", fqn="legacy.Item")
    assert (item["pydantic_version"], item["options"]) == (
        "v1",
        ["orm_mode=True"],
    )  # pydantic.v1 + class Config
    note = one("validation_fields", model="legacy.Item", name="note")
    assert (note["required"], note["nullable"]) == (False, True)  # v1: Optional without default means None
    settings = one("validation_models", fqn="v1style.Settings")  # `from pydantic import validator`
    assert settings["pydantic_version"] == "v1"
    assert one("validation_validators", model="v1style.Settings")["fields"] == ["hosts"]


def test_dataclasses_attrs_and_pydantic_dataclasses() -> None:
    point = {f["name"]: f for f in rows("validation_fields", model="plain.Point")}
    assert set(point) == {"x", "y", "tags", "cache", "label"}  # not COUNT (ClassVar), not _ (KW_ONLY)
    assert point["x"]["required"] and not point["y"]["required"]
    assert (point["cache"]["required"], point["cache"]["has_default"]) == (False, False)  # init=False
    assert one("validation_models", fqn="plain.Point")["options"] == ["frozen=True"]
    assert len(rows("validation_fields", model="plain.Point3")) == 6
    assert not rows("validation_models", fqn="plain.NotADataclass")  # a subclass without the decorator
    legacy = {f["name"]: f for f in rows("validation_fields", model="plain.Legacy")}
    assert set(legacy) == {"a", "b"}  # @attr.s: `c: int = 5` is no attribute
    assert legacy["a"]["required"] and legacy["b"]["default"] == "1"
    assert one("validation_validators", model="plain.Legacy")["fields"] == ["a"]
    modern = {f["name"]: f for f in rows("validation_fields", model="plain.Modern")}
    assert modern["name"]["required"] and modern["items"]["default_factory"] == "list"
    assert modern["size"]["alias"] == "sz"
    assert one("validation_models", fqn="plain.Coords")["framework"] == "pydantic_dataclass"


def test_marshmallow_schemas() -> None:
    album = {f["name"]: f for f in rows("validation_fields", model="marsh.AlbumSchema")}
    assert set(album) == {"title", "artist", "release", "id"}
    assert album["title"]["required"] and album["id"]["declared_in"] == "marsh.BaseSchema"
    assert (album["artist"]["type"], album["artist"]["nullable"], album["artist"]["ref"]) == (
        "Nested",
        True,
        "marsh.ArtistSchema",
    )
    assert one("validation_fields", model="marsh.ArtistSchema", name="name")["alias"] == "artistName"
    kinds = sorted(v["kind"] for v in rows("validation_validators", model="marsh.AlbumSchema"))
    assert kinds == ["post_load", "validates", "validates_schema"]
    assert one("validation_models", fqn="marsh.AlbumSchema")["options"] == ["ordered=True"]


def test_sqlmodel_classes_are_validation_models_too() -> None:
    names = {m["name"]: m for m in rows("validation_models", framework="sqlmodel")}
    assert set(names) == {"TeamBase", "Team", "Hero", "HeroCreate"}
    assert {f["name"] for f in rows("validation_fields", model="heroes.Hero")} == {
        "id",
        "name",
        "age",
        "team_id",
    }


def test_documented_query_required_but_nullable() -> None:
    got = {
        (r["model"], r["name"])
        for r in query(doc_sql("pydantic fields that are required although they admit None"))
    }
    assert got == {("schemas.users.UserIn", "nickname"), ("schemas.users.UserOut", "nickname")}


def test_documented_query_pydantic_v1_models() -> None:
    assert [r["fqn"] for r in query(doc_sql("models still on the pydantic v1 API"))] == [
        "legacy.Item",
        "v1style.Settings",
    ]
