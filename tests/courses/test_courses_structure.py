"""Modules and lessons: ordering, reordering with the full list only, deletion, lesson access."""

from __future__ import annotations

import uuid

from tests.courses.seed import seed_courses
from tests.courses.support import COURSE, add_lesson, add_module, create_course

REORDER_MODULES = """mutation($id: ID!, $ids: [ID!]!) {
  reorderModules(courseId: $id, input: {moduleIds: $ids}) {
  modules { id position } } }"""
REORDER_LESSONS = """mutation($id: ID!, $ids: [ID!]!) {
  reorderLessons(moduleId: $id, input: {lessonIds: $ids}) {
  id lessons { id position } } }"""
UPDATE_MODULE = (
    "mutation($id: ID!, $input: UpdateModuleInput!) { updateModule(id: $id, input: $input) { "
    "id title description } }"
)
DELETE_MODULE = (
    "mutation($id: ID!) { deleteModule(id: $id) { moduleCount modules { id position } } }"
)
UPDATE_LESSON = """mutation($id: ID!, $input: UpdateLessonInput!) {
  updateLesson(id: $id, input: $input) {
  id title type content videoAssetId durationSeconds isFreePreview requiresPrevious } }"""
DELETE_LESSON = (
    "mutation($id: ID!) { deleteLesson(id: $id) { id durationSeconds lessons { id position } } }"
)
STRUCTURE = """query($id: ID!) { course(id: $id) { moduleCount lessonCount totalDurationSeconds
  modules { id title position durationSeconds
    lessons { id title type position content isFreePreview } } } }"""


def ids(items: list[dict]) -> list[str]:
    return [item["id"] for item in items]


def test_modules_and_lessons_keep_their_order(api, educator):
    token = educator[1]
    course = create_course(api, token)
    second = add_module(api, token, course["id"], "Second")
    first = add_module(api, token, course["id"], "First", position=0)
    third = add_module(api, token, course["id"], "Third")
    assert (first["position"], third["position"]) == (0, 2)
    a = add_lesson(api, token, first["id"], "A", durationSeconds=120)
    c = add_lesson(api, token, first["id"], "C", type="QUIZ", durationSeconds=60)
    b = add_lesson(api, token, first["id"], "B", type="ASSIGNMENT", position=1)
    video = add_lesson(
        api,
        token,
        second["id"],
        "Video",
        type="VIDEO",
        videoAssetId=str(uuid.uuid4()),
        durationSeconds=600,
    )
    assert video["videoAssetId"] and video["courseId"] == course["id"]

    got = api.data(STRUCTURE, {"id": course["id"]}, token)["course"]
    assert [m["title"] for m in got["modules"]] == ["First", "Second", "Third"]
    assert [m["position"] for m in got["modules"]] == [0, 1, 2]
    assert ids(got["modules"][0]["lessons"]) == [a["id"], b["id"], c["id"]]
    assert [lesson["position"] for lesson in got["modules"][0]["lessons"]] == [0, 1, 2]
    assert (got["moduleCount"], got["lessonCount"], got["totalDurationSeconds"]) == (3, 4, 780)
    assert [m["durationSeconds"] for m in got["modules"]] == [180, 600, 0]
    assert api.error_codes(
        'mutation($id: ID!) { addModule(courseId: $id, input: {title: "x", position: 9}) { id } }',
        {"id": course["id"]},
        token,
    ) == ["INVALID_POSITION"]


def test_reordering_takes_the_full_list_and_nothing_foreign(api, educator):
    token = educator[1]
    course = create_course(api, token)
    modules = [add_module(api, token, course["id"], f"M{n}") for n in range(3)]
    other_course = create_course(api, token)
    foreign = add_module(api, token, other_course["id"], "Foreign")
    m0, m1, m2 = ids(modules)

    reordered = api.data(REORDER_MODULES, {"id": course["id"], "ids": [m2, m0, m1]}, token)[
        "reorderModules"
    ]
    assert reordered["modules"] == [
        {"id": m2, "position": 0},
        {"id": m0, "position": 1},
        {"id": m1, "position": 2},
    ]

    bad_orders = {
        "foreign id": [m2, m0, m1, foreign["id"]],
        "foreign instead of own": [m2, m0, foreign["id"]],
        "duplicate": [m2, m0, m0, m1],
        "dropped": [m2, m0],
        "empty": [],
    }
    for case, order in bad_orders.items():
        body = api.execute(REORDER_MODULES, {"id": course["id"], "ids": order}, token)
        [error] = body["errors"]
        assert error["extensions"]["code"] == "INVALID_ORDER", case
    # an id that is not a UUID is refused before the service sees the list
    body = api.execute(REORDER_MODULES, {"id": course["id"], "ids": [m2, m0, m1, "x"]}, token)
    assert [error["extensions"]["code"] for error in body["errors"]] == ["BAD_USER_INPUT"]
    body = api.execute(REORDER_MODULES, {"id": course["id"], "ids": [m2, m0, foreign["id"]]}, token)
    details = body["errors"][0]["extensions"]
    assert details["unknownIds"] == [foreign["id"]] and details["missingIds"] == [m1]
    # Nothing moved.
    got = api.data(STRUCTURE, {"id": course["id"]}, token)["course"]
    assert ids(got["modules"]) == [m2, m0, m1]


def test_reordering_lessons_refuses_lessons_of_another_module(api, educator):
    token = educator[1]
    course = create_course(api, token)
    module, other = add_module(api, token, course["id"]), add_module(api, token, course["id"])
    lessons = ids([add_lesson(api, token, module["id"], f"L{n}") for n in range(3)])
    stranger = add_lesson(api, token, other["id"])["id"]
    result = api.data(REORDER_LESSONS, {"id": module["id"], "ids": lessons[::-1]}, token)[
        "reorderLessons"
    ]
    assert ids(result["lessons"]) == lessons[::-1]
    for order in ([*lessons, stranger], [lessons[0], lessons[1], stranger], [*lessons, lessons[0]]):
        assert api.error_codes(REORDER_LESSONS, {"id": module["id"], "ids": order}, token) == [
            "INVALID_ORDER"
        ]


def test_deleting_closes_the_gap(api, educator):
    token = educator[1]
    course = create_course(api, token)
    modules = [add_module(api, token, course["id"], f"M{n}") for n in range(3)]
    lessons = [
        add_lesson(api, token, modules[0]["id"], f"L{n}", durationSeconds=100) for n in range(3)
    ]
    add_lesson(api, token, modules[1]["id"])

    module = api.data(DELETE_LESSON, {"id": lessons[1]["id"]}, token)["deleteLesson"]
    assert module["lessons"] == [
        {"id": lessons[0]["id"], "position": 0},
        {"id": lessons[2]["id"], "position": 1},
    ]
    assert module["durationSeconds"] == 200
    after = api.data(DELETE_MODULE, {"id": modules[1]["id"]}, token)["deleteModule"]
    assert after["moduleCount"] == 2
    assert after["modules"] == [
        {"id": modules[0]["id"], "position": 0},
        {"id": modules[2]["id"], "position": 1},
    ]
    assert api.error_codes(DELETE_MODULE, {"id": modules[1]["id"]}, token) == ["MODULE_NOT_FOUND"]
    assert api.error_codes(DELETE_LESSON, {"id": lessons[1]["id"]}, token) == ["LESSON_NOT_FOUND"]


def test_updating_modules_and_lessons(api, educator):
    token = educator[1]
    course = create_course(api, token)
    module = add_module(api, token, course["id"])
    updated = api.data(
        UPDATE_MODULE,
        {
            "id": module["id"],
            "input": {"title": "Basics", "description": "<p>Start <script>x()</script>here</p>"},
        },
        token,
    )["updateModule"]
    assert updated == {"id": module["id"], "title": "Basics", "description": "<p>Start here</p>"}

    lesson = add_lesson(api, token, module["id"], "Read", content="<p>Hi</p>")
    changed = api.data(
        UPDATE_LESSON,
        {
            "id": lesson["id"],
            "input": {
                "type": "VIDEO",
                "videoAssetId": str(uuid.uuid4()),
                "durationSeconds": 90,
                "isFreePreview": True,
                "requiresPrevious": True,
                "content": "<b onmouseover=x()>notes</b>",
            },
        },
        token,
    )["updateLesson"]
    assert changed["type"] == "VIDEO" and changed["videoAssetId"]
    assert changed["content"] == "<b>notes</b>"
    assert (changed["durationSeconds"], changed["isFreePreview"], changed["requiresPrevious"]) == (
        90,
        True,
        True,
    )
    back = api.data(UPDATE_LESSON, {"id": lesson["id"], "input": {"type": "TEXT"}}, token)[
        "updateLesson"
    ]
    assert back["videoAssetId"] is None  # only VIDEO lessons carry a video

    bad = [
        ({"videoAssetId": str(uuid.uuid4())}, "VIDEO_NOT_ALLOWED"),
        ({"durationSeconds": -5}, "INVALID_DURATION"),
        ({"title": "x" * 10_000}, "TITLE_TOO_LONG"),
    ]
    for fields, code in bad:
        assert api.error_codes(UPDATE_LESSON, {"id": lesson["id"], "input": fields}, token) == [
            code
        ]


def test_strangers_cannot_change_structure(api, educator, other_educator, student):
    [course_id] = seed_courses(educator[0].id, 1, modules=1, lessons=2)
    course = api.data(STRUCTURE, {"id": str(course_id)})["course"]
    module_id = course["modules"][0]["id"]
    lesson_id = course["modules"][0]["lessons"][0]["id"]
    for token in (other_educator[1], student[1]):
        assert api.error_codes(
            'mutation($id: ID!) { addModule(courseId: $id, input: {title: "x"}) { id } }',
            {"id": str(course_id)},
            token,
        ) == ["FORBIDDEN"]
        assert api.error_codes(
            UPDATE_MODULE, {"id": module_id, "input": {"title": "x"}}, token
        ) == ["FORBIDDEN"]
        assert api.error_codes(DELETE_LESSON, {"id": lesson_id}, token) == ["FORBIDDEN"]
        assert api.error_codes(REORDER_LESSONS, {"id": module_id, "ids": []}, token) == [
            "FORBIDDEN"
        ]
    assert api.error_codes(UPDATE_LESSON, {"id": lesson_id, "input": {"title": "x"}}) == [
        "UNAUTHENTICATED"
    ]


def test_lesson_content_is_for_free_previews_and_instructors(api, educator, student):
    [course_id] = seed_courses(
        educator[0].id, 1, modules=1, lessons=3
    )  # the first lesson is a free preview
    for token in (None, student[1]):
        lessons = api.data(STRUCTURE, {"id": str(course_id)}, token)["course"]["modules"][0][
            "lessons"
        ]
        assert [lesson["isFreePreview"] for lesson in lessons] == [True, False, False]
        assert [lesson["content"] for lesson in lessons] == ["<p>Read me.</p>", None, None]
    lessons = api.data(STRUCTURE, {"id": str(course_id)}, educator[1])["course"]["modules"][0][
        "lessons"
    ]
    assert all(lesson["content"] == "<p>Read me.</p>" for lesson in lessons)


def test_course_query_shows_nested_structure_to_its_instructor(api, educator):
    token = educator[1]
    course = create_course(api, token)
    module = add_module(api, token, course["id"], "Only")
    add_lesson(api, token, module["id"], "One")
    got = api.data(COURSE, {"id": course["id"]}, token)["course"]
    assert [m["title"] for m in got["modules"]] == ["Only"]
    assert [lesson["title"] for lesson in got["modules"][0]["lessons"]] == ["One"]
