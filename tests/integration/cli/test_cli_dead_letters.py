"""`streamdash dead-letters list|replay` on real data: events rejected by a real API, moved
to PostgreSQL by a real engine, listed, then — after a spec change that makes them valid —
replayed, marked replayed and counted in the view exactly once.

The fix is deployed to the API (which validates) while the engine keeps running: an engine
restarted with a changed spec refuses its checkpoint ("written for a different pipeline
spec") and there is no command yet to rebuild it, see the report of this test's author."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import psycopg
from cli_support import cli, cli_env, engine, free_port, serve, wait_for

SPEC = """
streams:
  payments:
    time: {{field: ts, unit: iso8601}}
    lateness: 1h
    schema:
      ts: timestamp
      customer: string
      amount: float64
      coupon: {coupon}
views:
  payments_per_customer:
    from: payments
    group_by: [customer]
    metrics:
      n: count()
      total: sum(amount)
"""


def payment(customer: str, amount: float, coupon: str | None = "c") -> bytes:
    event: dict[str, Any] = {"ts": "2024-05-01T12:00:00Z", "customer": customer, "amount": amount}
    if coupon is not None:
        event["coupon"] = coupon
    return msgspec.json.encode(event)


def view_rows(url: str) -> dict[str, tuple[int, float]]:
    with psycopg.connect(url) as conn:
        try:
            rows = conn.execute("SELECT customer, n, total FROM payments_per_customer").fetchall()
        except psycopg.errors.UndefinedTable:
            return {}
    return {str(c): (int(n), float(t)) for c, n, t in rows}


def dead_letters(url: str) -> list[tuple[str, str, bool]]:
    """(reason, raw text, replayed?) of every dead letter, oldest first."""
    with psycopg.connect(url) as conn:
        try:
            rows = conn.execute(
                "SELECT reason, raw_text, replayed_at IS NOT NULL FROM dead_letters ORDER BY id"
            ).fetchall()
        except psycopg.errors.UndefinedTable:
            return []
    return [(str(r), str(t), bool(d)) for r, t, d in rows]


def test_rejected_events_are_listed_then_replayed_after_a_spec_fix(
    pg_db: str, tmp_path: Path
) -> None:
    strict, relaxed = tmp_path / "strict.yaml", tmp_path / "relaxed.yaml"
    strict.write_text(SPEC.format(coupon="string"))
    relaxed.write_text(SPEC.format(coupon="string?"))  # the fix: coupon becomes optional
    data_dir, port = tmp_path / "data", free_port()
    url = f"http://127.0.0.1:{port}"
    env = cli_env(STREAMDASH_DATABASE_URL=pg_db)
    events = tmp_path / "payments.ndjson"
    lines = [
        payment("ann", 10.0),
        payment("ann", 5.0, coupon=None),  # invalid under the strict spec
        payment("bob", 7.5),
        b'{"customer": "eve", "amount": 1',  # malformed under any spec
        payment("cid", 2.5, coupon=None),  # invalid under the strict spec
        payment("ann", 1.0),
    ]
    events.write_bytes(b"\n".join(lines) + b"\n")

    eng = engine(data_dir, env, strict)
    with eng:
        with serve(data_dir, port, env, strict):
            sent = cli("ingest", str(events), "--stream", "payments", "--url", url, env=env)
            assert sent.returncode == 0, sent.stderr
            assert "3 accepted, 3 rejected" in sent.stdout
            wait_for(lambda: eng.alive() and len(dead_letters(pg_db)) == 3, 60, "dead letters")
        first = {"ann": (2, 11.0), "bob": (1, 7.5)}
        wait_for(lambda: view_rows(pg_db) == first, 30, "results")

        listed = cli("dead-letters", "list", "--stream", "payments", "--reason", "invalid", env=env)
        assert listed.returncode == 0, listed.stderr
        assert "2 dead letter(s)" in listed.stdout
        assert '"cid"' in listed.stdout and '"ann"' in listed.stdout
        assert "coupon" in listed.stdout  # the reason names the missing field
        assert "malformed" not in listed.stdout
        everything = cli("dead-letters", "list", env=env)
        assert "3 dead letter(s)" in everything.stdout
        bad_reason = cli("dead-letters", "list", "--reason", "typo", env=env)
        assert bad_reason.returncode == 2
        assert "--reason 'typo' is unknown; expected one of malformed, invalid" in bad_reason.stderr

        with serve(data_dir, port, env, relaxed):  # the same data dir and port, fixed spec
            late = cli("dead-letters", "replay", "--reason", "late", "--url", url, env=env)
            assert late.returncode == 2
            assert "late events cannot be replayed" in late.stderr

            replayed = cli("dead-letters", "replay", "--stream", "payments", "--url", url, env=env)
            assert replayed.returncode == 0, replayed.stderr
            assert "replayed 3 dead letter(s): 2 accepted, 1 rejected again" in replayed.stdout
            expected = {"ann": (3, 16.0), "bob": (1, 7.5), "cid": (1, 2.5)}
            wait_for(lambda: eng.alive() and view_rows(pg_db) == expected, 60, "replayed results")
            # the malformed one came back as a new dead letter; the three originals are marked
            wait_for(lambda: len(dead_letters(pg_db)) == 4, 30, "the new dead letter")

            again = cli("dead-letters", "replay", "--stream", "payments", "--reason", "invalid",
                        "--url", url, env=env)  # fmt: skip
            assert again.returncode == 0, again.stderr
            assert "replayed 0 dead letter(s)" in again.stdout  # nothing is replayed twice

    letters = dead_letters(pg_db)
    assert [(reason, done) for reason, _, done in letters] == [
        ("invalid", True),
        ("malformed", True),
        ("invalid", True),
        ("malformed", False),
    ]
    assert letters[3][1] == letters[1][1]  # the same bytes as sent the first time
    assert view_rows(pg_db) == expected  # and still counted once each
