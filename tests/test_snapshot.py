"""``GET /__parlel/snapshot``, ``POST /__parlel/restore`` and ``--load``: the whole state as one file
and back, equal through the API; a bad, truncated or crafted file is a 400 and changes nothing."""

from __future__ import annotations

import io
import os
import pickle
import signal
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import reaped
from state_helpers import Daemon, call, error_event, everything, populate

from sentry_daemon.store import snapshot


def stop(daemon: Daemon) -> None:
    daemon.proc.send_signal(signal.SIGTERM)
    assert daemon.proc.wait(timeout=30) == 0
    output = daemon.output()
    assert "Traceback" not in output, output


@pytest.fixture(scope="module")
def daemon() -> Iterator[Daemon]:
    running = Daemon()
    with reaped(running.proc):
        populate(running.url)
        yield running
        stop(running)


@pytest.fixture(scope="module")
def taken(daemon: Daemon, tmp_path_factory: Any) -> tuple[Path, dict[str, Any]]:
    """The populated state as a snapshot file, and everything the API showed of it."""
    _, data = call(daemon.url, "GET", "/__parlel/snapshot")
    path = tmp_path_factory.mktemp("snapshot") / "state.sqlite3"
    path.write_bytes(data)
    return path, everything(daemon.url)


def test_snapshot_reset_restore_is_the_same_state(daemon: Daemon, taken: tuple[Path, dict[str, Any]]) -> None:
    path, before = taken
    call(daemon.url, "POST", "/__parlel/reset")
    assert everything(daemon.url) != before
    _, body = call(daemon.url, "POST", "/__parlel/restore", data=path.read_bytes(),
                   headers={"Content-Type": "application/vnd.sqlite3"})
    assert body == {"status": "restored"}
    after = everything(daemon.url)
    for read, seen in before.items():
        assert after[read] == seen, read
    # and the restored store goes on: new events join the restored issues and get fresh ids
    call(daemon.url, "POST", "/api/1/store/", error_event("after restore"))
    assert call(daemon.url, "GET", "/__parlel/retention")[1]["stored_events"] == \
        before["/__parlel/retention"]["stored_events"] + 1


def test_the_snapshot_is_a_download(daemon: Daemon) -> None:
    import urllib.request

    with urllib.request.urlopen(f"{daemon.url}/__parlel/snapshot") as r:
        assert r.headers["Content-Type"] == "application/vnd.sqlite3"
        assert r.headers["Content-Disposition"] == 'attachment; filename="sentryfake-snapshot.sqlite3"'
        assert r.read(16) == b"SQLite format 3\x00"


class Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> Any:
        return (os.system, (f"touch {self.marker}",))


def crafted(path: Path, state: bytes) -> bytes:
    db = sqlite3.connect(path)
    db.executescript(snapshot.SCHEMA)
    db.executemany("INSERT INTO meta VALUES (?, ?)",
                   [("format", snapshot.FORMAT), ("version", snapshot.VERSION), ("state", state)])
    db.commit()
    db.close()
    return path.read_bytes()


def bad_files(tmp_path: Path, good: bytes) -> dict[str, bytes]:
    marker = tmp_path / "pwned"
    wrong_format = tmp_path / "wrong.sqlite3"
    db = sqlite3.connect(wrong_format)
    db.execute("CREATE TABLE meta (name TEXT PRIMARY KEY, value BLOB)")
    db.execute("INSERT INTO meta VALUES ('format', 'something else')")
    db.commit()
    db.close()
    return {
        "code": crafted(tmp_path / "code.sqlite3", pickle.dumps({"store": {"x": Evil(marker)}, "subs": {}})),
        "nested code": crafted(tmp_path / "nested.sqlite3", pickle.dumps(
            {"store": {"organizations": {}, "teams": {}, "projects": {}}, "subs": {"journal": {"size": Evil(marker)}}})),
        "a foreign class": crafted(tmp_path / "foreign.sqlite3", pickle.dumps({"store": {"x": Path("/")}})),
        "not a pickle": crafted(tmp_path / "garbage.sqlite3", b"\x80\x05garbage"),
        "the wrong shapes": crafted(tmp_path / "shapes.sqlite3", pickle.dumps(
            {"store": {"organizations": [], "teams": {}, "projects": {}}, "subs": {}})),
        "truncated": good[: len(good) // 2],
        "not sqlite": b"hello, I am not a database",
        "empty": b"",
        "another sqlite file": wrong_format.read_bytes(),
    }


def test_a_bad_or_crafted_file_is_refused_and_changes_nothing(daemon: Daemon, taken: tuple[Path, dict[str, Any]],
                                                            tmp_path: Path) -> None:
    path, _ = taken
    before = everything(daemon.url)
    for name, data in bad_files(tmp_path, path.read_bytes()).items():
        status, body = call(daemon.url, "POST", "/__parlel/restore", data=data, expect=None)
        assert status == 400 and set(body) == {"detail"}, (name, status, body)
        assert not (tmp_path / "pwned").exists(), name
    assert everything(daemon.url) == before


def test_load_starts_from_a_snapshot(taken: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    path, before = taken
    loaded = Daemon("--load", str(path))
    with reaped(loaded.proc):
        after = everything(loaded.url)
        for read, seen in before.items():
            assert after[read] == seen, read
        stop(loaded)


def test_a_data_dir_with_a_state_wins_over_load(taken: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    path, before = taken
    data = str(tmp_path / "data")
    first = Daemon("--data-dir", data, "--load", str(path))  # an empty data directory starts from the file
    with reaped(first.proc):
        assert everything(first.url) == before
        call(first.url, "POST", "/api/1/store/", error_event("kept in the data directory"))
        stop(first)
    second = Daemon("--data-dir", data, "--load", str(path))
    with reaped(second.proc):
        stored = call(second.url, "GET", "/__parlel/retention")[1]["stored_events"]
        assert stored == before["/__parlel/retention"]["stored_events"] + 1
        stop(second)


def test_load_refuses_a_bad_file(tmp_path: Path) -> None:
    from twisted.python import usage

    from sentry_daemon.tap import Options

    bad = tmp_path / "bad.sqlite3"
    bad.write_bytes(b"not a database at all")
    with pytest.raises(usage.UsageError, match="--load"):
        Options().parseOptions(["--load", str(bad)])
    with pytest.raises(usage.UsageError, match="no such file"):
        Options().parseOptions(["--load", str(tmp_path / "missing")])
    empty = tmp_path / "empty.sqlite3"
    db = sqlite3.connect(empty)
    db.executescript(snapshot.SCHEMA)
    db.close()
    other = tmp_path / "other.sqlite3"
    crafted(other, b"")
    db = sqlite3.connect(other)
    db.execute("UPDATE meta SET value = 'v0' WHERE name = 'version'")
    db.commit()
    db.close()
    for path, reason in ((empty, "holds no state"), (other, "version")):  # told without reading its records
        with pytest.raises(usage.UsageError, match=reason):
            Options().parseOptions(["--load", str(path)])


def test_snapshot_and_restore_need_an_admin_token(taken: tuple[Path, dict[str, Any]]) -> None:
    path, _ = taken
    guarded = Daemon("--control-auth", "token", "--admin-token", "admin-secret")
    with reaped(guarded.proc):
        tenant = call(guarded.url, "POST", "/__parlel/tenants", {}, headers={"Authorization": "Bearer admin-secret"},
                      expect=None)[1]
        as_tenant = {"Authorization": f"Bearer {tenant['token']}"}
        assert call(guarded.url, "GET", "/__parlel/snapshot", headers=as_tenant, expect=None)[0] == 403
        assert call(guarded.url, "POST", "/__parlel/restore", data=path.read_bytes(), headers=as_tenant,
                    expect=None)[0] == 403
        admin = {"Authorization": "Bearer admin-secret"}
        call(guarded.url, "GET", "/__parlel/snapshot", headers=admin)
        call(guarded.url, "POST", "/__parlel/restore", data=path.read_bytes(), headers=admin)
        stop(guarded)


def _stored(message: str) -> Any:
    from sentry_daemon.ingest.normalize import normalize_event
    from sentry_daemon.store.store import Store

    store = Store()
    data = normalize_event({"message": message, "level": "error"}, received=store.now(), event_id=None,
                           client_ip="127.0.0.1", sdk_client=None, item_type="event", in_place=True)
    store.add_event(store.projects[1], data)
    return store


def test_a_state_of_wrong_types_is_refused_before_anything_is_replaced() -> None:
    """Values of the wrong types, which the restricted unpickler lets through (they are plain data),
    are a ``SnapshotError`` (a 400 at ``/__parlel/restore``), and the store keeps what it had."""
    source = _stored("from the snapshot")
    (issue,) = source.issues.by_id.values()
    (event,) = source._events.values()
    crafted_rows = []
    project = source.projects[1]
    # apply's and decode's reads, then fields only a later read touches (an int title would be a 500
    # on the first issue list), nested ones among them
    for holder, name, wrong in ((issue, "hashes", 5), (event, "seq", [1]), (issue, "title", 42),
                                (issue, "values", {("level", 3): 1.0}), (event, "tags", (("a", None),)),
                                (project, "slug", b"bytes"), (issue, "snooze", "soon")):
        right = getattr(holder, name)
        setattr(holder, name, wrong)
        try:
            crafted_rows.append(snapshot.whole_state(source))
        finally:
            setattr(holder, name, right)
    target = _stored("kept")
    for rows in crafted_rows:
        with pytest.raises(snapshot.SnapshotError, match="malformed"):
            snapshot.load(target, rows)
        assert [e.data["logentry"]["formatted"] for e in target._events.values()] == ["kept"]


def test_the_field_check_names_what_is_wrong() -> None:
    from sentry_daemon.store.field_types import TypedFields

    store = _stored("typed")
    (issue,) = store.issues.by_id.values()
    check = TypedFields()
    assert check.first_wrong([issue]) == ""
    issue.culprit = None  # type: ignore[assignment]
    assert check.first_wrong([issue]) == "Issue.culprit: not a str"
    issue.culprit = ""
    issue.stored_events[0].environment = 7  # type: ignore[assignment]
    assert check.first_wrong([issue]) == "Issue.stored_events: an element Event.environment: not a str"
    issue.stored_events[0].environment = None
    issue.first_seen = 12  # an int where a float belongs: Python's own rule
    assert check.first_wrong([issue]) == ""


def test_a_large_restore_body_is_read_off_the_reactor_through_its_own_descriptor(
        taken: tuple[Path, dict[str, Any]]) -> None:
    """Twisted keeps a body over 100 KB in a temporary file and closes it if the client goes:
    the worker thread reads a duplicate descriptor by position, so neither matters."""
    import tempfile

    from sentry_daemon.store.persistence import _read_upload, _upload_source

    path, _ = taken
    data = path.read_bytes()
    body = tempfile.TemporaryFile()
    body.write(data)
    body.seek(7)  # wherever the request left it
    source = _upload_source(body)
    assert isinstance(source, int)
    body.close()  # the client went away
    rows = _read_upload(source)
    assert rows.records and rows.state
    with pytest.raises(OSError):
        os.fstat(source)  # closed once read
    assert _read_upload(_upload_source(io.BytesIO(data))).records == rows.records
    # a body with no descriptor to duplicate (as when the process is out of them) is read whole
    unduplicable = io.BufferedReader(io.BytesIO(data))  # type: ignore[arg-type]
    unduplicable.read(7)
    assert _read_upload(_upload_source(unduplicable)).records == rows.records
