"""Files of assignments and quiz file responses, end to end over HTTP: the student uploads
through the Content module (`uploadSubmissionFile`, a signed PUT, `completeUpload`), a real
`media` worker checks the bytes, and the submission takes the upload by its id. Every bad
reference gets its code and leaves nothing half-written."""

from __future__ import annotations

import threading
import uuid

import httpx
import pytest

from lms.events.bus import EventListener
from lms.events.topics import CONTENT
from lms.security import issue_access_token as issue_token
from tests.assessments.support import (
    ANSWER,
    CREATE_ASSIGNMENT,
    CREATE_QUIZ,
    MY_ASUBS,
    START,
    SUBMIT,
    SUBMIT_ASSIGNMENT,
    classroom,
)
from tests.support import LMS, GraphQLClient, Process, free_port, start_worker

UPLOAD = """mutation($i: UploadSubmissionFileInput!) { uploadSubmissionFile(input: $i) {
  uploadUrl method headers fileKey fileAsset { id status } } }"""
COMPLETE = """mutation($key: String!) { completeUpload(fileKey: $key) {
  fileAsset { id status } } }"""
FILE_ASSET = "query($id: ID!) { fileAsset(id: $id) { id status detectedType } }"
PDF = b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\n%%EOF\n"
EXE = b"MZ\x90\x00" + b"\x00" * 60  # a Windows program
ELF = b"\x7fELF\x02\x01\x01" + b"\x00" * 57


class AssetWatcher:
    """Content events from the bus: `wait(id)` blocks until the asset is READY or FAILED."""

    def __init__(self) -> None:
        self.status: dict[str, str] = {}
        self._changed = threading.Condition()
        self.listener = EventListener(self._on_event)

    def _on_event(self, topic, data: dict) -> None:
        if topic is CONTENT and data.get("status") in ("READY", "FAILED"):
            with self._changed:
                self.status[data["id"]] = data["status"]
                self._changed.notify_all()

    def wait(self, asset_id: str, timeout: float = 60) -> str:
        with self._changed:
            self._changed.wait_for(lambda: asset_id in self.status, timeout)
        assert asset_id in self.status, f"file asset {asset_id} was never checked"
        return self.status[asset_id]


@pytest.fixture(scope="module")
def stack():
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"  # signed PUT URLs point back at this API
    api = Process([*LMS, "serve", "--port", str(port)], {"LMS_PUBLIC_URL": base_url})
    api.wait_for("Running on")
    worker = start_worker("media,default")
    watcher = AssetWatcher()
    watcher.listener.start()
    assert watcher.listener.ready.wait(15), "event bus listener did not start"
    client = GraphQLClient(base_url)
    yield client, watcher
    client.close()
    watcher.listener.stop()
    for process in (worker, api):
        process.stop()


def upload(stack, token: str, course_id: str, name: str, data: bytes, kind: str) -> str:
    """What a browser does: register, PUT the bytes, complete; then the content check."""
    api, watcher = stack
    info = {"courseId": course_id, "fileName": name, "contentType": kind, "sizeBytes": len(data)}
    ticket = api.data(UPLOAD, {"i": info}, token)["uploadSubmissionFile"]
    response = httpx.request(
        ticket["method"], ticket["uploadUrl"], content=data, headers=ticket["headers"], timeout=60
    )
    assert response.status_code in (200, 201), response.text
    done = api.data(COMPLETE, {"key": ticket["fileKey"]}, token)["completeUpload"]["fileAsset"]
    watcher.wait(done["id"])
    return done["id"]


def test_assignment_files_come_from_checked_uploads_of_ones_own(stack):
    api, _ = stack
    room = classroom()
    course = room["course"].id
    teacher = issue_token(room["educator"])
    student, classmate = (issue_token(s) for s in room["students"])
    variables = {
        "i": {
            "courseId": course,
            "title": "Essay",
            "submissionType": "FILE",
            "allowedFileTypes": ["pdf", "txt"],
            "maxFileBytes": 2000,
        }
    }
    assignment = api.data(CREATE_ASSIGNMENT, variables, teacher)["createAssignment"]
    pdf = upload(stack, student, course, "essay.pdf", PDF, "application/pdf")
    exe = upload(stack, student, course, "essay.pdf", EXE, "application/pdf")
    png = upload(stack, student, course, "essay.png", b"\x89PNG\r\n\x1a\n" + bytes(32), "image/png")
    big = upload(stack, student, course, "big.txt", b"a" * 2001, "text/plain")
    theirs = upload(stack, classmate, course, "mine.pdf", PDF, "application/pdf")
    # Registered but never sent: not checked, so not usable.
    info = {"courseId": course, "fileName": "x.pdf", "contentType": "application/pdf"}
    unsent = api.data(UPLOAD, {"i": {**info, "sizeBytes": 10}}, student)
    unsent = unsent["uploadSubmissionFile"]["fileAsset"]["id"]

    def codes(*ids, token=student):
        files = {"i": {"assignmentId": assignment["id"], "fileAssetIds": list(ids)}}
        return api.error_codes(SUBMIT_ASSIGNMENT, files, token)

    # The content check refused the program named .pdf; its upload cannot be submitted.
    assert api.data(FILE_ASSET, {"id": exe}, student)["fileAsset"]["status"] == "FAILED"
    assert codes(pdf, exe) == ["FILE_CONTENT_MISMATCH"]
    assert codes(png) == ["FILE_TYPE_NOT_ALLOWED"]
    assert codes(big) == ["FILE_TOO_LARGE"]
    assert codes(theirs) == ["FILE_ASSET_NOT_FOUND"]  # a classmate's upload
    assert codes(str(uuid.uuid4())) == ["FILE_ASSET_NOT_FOUND"]
    assert codes("not-an-id") == ["BAD_USER_INPUT"]  # not an id at all
    assert codes(unsent) == ["FILE_NOT_READY"]
    # Nothing half-written: the refused submissions left no attempt behind.
    mine = api.data(MY_ASUBS, {"a": assignment["id"]}, student)["assignmentSubmissionsByStudent"]
    assert mine == []
    files = {"i": {"assignmentId": assignment["id"], "fileAssetIds": [pdf]}}
    sub = api.data(SUBMIT_ASSIGNMENT, files, student)["submitAssignment"]
    (file,) = sub["files"]
    assert sub["attempt"] == 1 and file["fileAssetId"] == pdf
    assert file["contentType"] == "application/pdf" and file["size"] == len(PDF)
    assert len(file["sha256"]) == 64
    # A student's upload is theirs and their instructors' only.
    assert api.data(FILE_ASSET, {"id": pdf}, teacher)["fileAsset"]["status"] == "READY"
    assert api.error_codes(FILE_ASSET, {"id": pdf}, classmate) == ["FORBIDDEN"]
    outsider = issue_token(room["outsider"])
    refused = {"i": {**info, "sizeBytes": 10}}
    assert api.error_codes(UPLOAD, refused, outsider) == ["FORBIDDEN"]


def test_a_quiz_file_response_takes_a_checked_upload_and_waits_for_a_grader(stack):
    api, _ = stack
    room = classroom()
    course = room["course"].id
    teacher = issue_token(room["educator"])
    student = issue_token(room["students"][0])
    question = {"type": "FILE_RESPONSE", "prompt": "Upload your lab notes", "points": 3}
    variables = {"i": {"courseId": course, "title": "Lab", "publish": True,
                       "questions": [question]}}  # fmt: skip
    quiz = api.data(CREATE_QUIZ, variables, teacher)["createQuiz"]
    attempt = api.data(START, {"q": quiz["id"]}, student)["startQuizAttempt"]
    elf = upload(stack, student, course, "notes.pdf", ELF, "application/pdf")
    pdf = upload(stack, student, course, "notes.pdf", PDF, "application/pdf")
    answer = {"questionId": attempt["questions"][0]["id"], "version": 0}
    bad = {"s": attempt["id"], "i": {**answer, "fileAssetId": elf}}
    assert api.error_codes(ANSWER, bad, student) == ["FILE_CONTENT_MISMATCH"]
    good = {"s": attempt["id"], "i": {**answer, "fileAssetId": pdf}}
    saved = api.data(ANSWER, good, student)["submitQuizAnswer"]
    assert saved["version"] == 1 and saved["response"]["file"]["name"] == "notes.pdf"
    stored = saved["response"]["file"]  # the stored answer, as JSON
    assert len(stored["sha256"]) == 64 and stored["file_asset_id"] == pdf
    # The same save again (a retry after a lost reply) is answered with the stored answer.
    assert api.data(ANSWER, good, student)["submitQuizAnswer"]["version"] == 1
    done = api.data(SUBMIT, {"s": attempt["id"]}, student)["submitQuiz"]
    assert done["status"] == "NEEDS_GRADING" and done["score"] is None
    waiting = """query($q: ID!) { quizSubmissions(quizId: $q, status: NEEDS_GRADING) { id } }"""
    assert api.data(waiting, {"q": quiz["id"]}, teacher)["quizSubmissions"] == [
        {"id": attempt["id"]}
    ]
