"""Typed contract of the Content API: BigInt byte sizes, stream enums, full connections."""

from __future__ import annotations

from lms.users.models import Role
from tests.content.conftest import UPLOAD, make_course
from tests.support import create_user

FIVE_GIB = 5 * 1024**3  # beyond a 32-bit Int, exact in JSON and JavaScript
MINE = """query($f: VideoAssetFilter) { myVideoAssets(filter: $f) {
  totalCount nodes { id sizeBytes } edges { node { id } } pageInfo { hasNextPage } } }"""
ENUMS = """{ f: __type(name: "StreamFormat") { enumValues { name } }
  r: __type(name: "StreamResolution") { enumValues { name } } }"""


def upload(api, token, lesson_id, size):
    variables = {
        "input": {
            "lessonId": str(lesson_id),
            "fileName": "lecture.mp4",
            "contentType": "video/mp4",
            "sizeBytes": size,
        }
    }
    return api.execute(UPLOAD, variables, token)


def test_byte_sizes_are_whole_numbers_beyond_32_bits(api):
    owner, token = create_user(Role.EDUCATOR)
    _, lesson_id = make_course(owner.id)
    ticket = upload(api, token, lesson_id, FIVE_GIB)["data"]["generateUploadUrl"]
    assert isinstance(ticket["maxBytes"], int) and ticket["maxBytes"] >= FIVE_GIB

    mine = api.data(MINE, {"f": {"lessonId": str(lesson_id)}}, token)["myVideoAssets"]
    assert mine["totalCount"] == 1
    assert mine["nodes"] == [{"id": ticket["videoAsset"]["id"], "sizeBytes": FIVE_GIB}]
    assert [edge["node"]["id"] for edge in mine["edges"]] == [ticket["videoAsset"]["id"]]

    for bad in (1.5, 2**60, "12", True):
        body = upload(api, token, lesson_id, bad)
        assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"], bad


def test_stream_format_and_resolution_are_enums(api):
    types = api.data(ENUMS)
    assert [v["name"] for v in types["f"]["enumValues"]] == ["HLS", "DASH"]
    assert [v["name"] for v in types["r"]["enumValues"]] == ["P1080", "P720", "P480", "P360"]
    query = '{ generateStreamingUrl(lessonId: "%s", format: FLV) { url } }'
    owner, token = create_user(Role.EDUCATOR)
    _, lesson_id = make_course(owner.id)
    assert api.error_codes(query % lesson_id, token=token) == ["GRAPHQL_VALIDATION_FAILED"]
