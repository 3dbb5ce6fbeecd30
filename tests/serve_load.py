"""A load generator for the log service, run as its own process (tests and bench/serve.py).

``python tests/serve_load.py BASE TOKEN KEYFILE... --count N --batch B`` starts one client
thread per key file (a private key, ``SigningKey.private_text``), each with its own keep-alive
connection. Each client signs its ``N`` records first (not timed), then sends them in batches of
``B`` to ``POST /v1/records/batch`` (as fast as answered, or paced to ``--rate`` records/s for
all clients together), retrying a batch whose answer it did not get (the service
restarting) until the deadline. It prints one JSON object: the execution ids each client saw
acknowledged, the latency of every acknowledged request (seconds), the wall time and the
number of retries. Bounded: loopback only, a fixed count, a deadline.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import threading
import time
import urllib.parse
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from runid import canonical
from runid.digest import content_ref
from runid.envelope import sign_record
from runid.examples import example
from runid.identity import compute_identity
from runid.keys import SigningKey
from runid.record import new_record


def signed_batches(key: SigningKey, count: int, batch: int, tag: str) -> list[bytes]:
    declaration = example("chat-hosted-model")
    declaration_id = compute_identity(declaration).declaration_id
    now = datetime.now(UTC)
    bodies = []
    for start in range(0, count, batch):
        envelopes, blobs = [], []
        for i in range(start, min(count, start + batch)):
            output = f"{tag} answer {i}".encode()
            record = new_record(
                declaration_id,
                issuer=key,
                started_at=now,
                ended_at=now,
                outputs=[content_ref(output)],
            )
            envelopes.append(sign_record(record, key))
            blobs.append(base64.b64encode(output).decode())
        if start == 0:
            blobs.append(base64.b64encode(canonical.canonicalize(declaration)).decode())
        bodies.append(json.dumps({"records": envelopes, "blobs": blobs}).encode())
    return bodies


def client(
    base: str,
    token: str,
    bodies: list[bytes],
    deadline: float,
    out: dict[str, Any],
    *,
    interval: float = 0.0,
) -> None:
    """Send ``bodies`` in order; with ``interval``, one every ``interval`` seconds on a fixed
    schedule (open loop: a late request's latency counts from when it was due)."""
    parts = urllib.parse.urlsplit(base)
    conn: http.client.HTTPConnection | None = None
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    begin = time.perf_counter()
    for number, body in enumerate(bodies):
        due = begin + number * interval
        if interval:
            time.sleep(max(0.0, due - time.perf_counter()))
        while True:
            if time.monotonic() > deadline:
                out["errors"].append("deadline")
                return
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
                start = min(time.perf_counter(), due) if interval else time.perf_counter()
                conn.request("POST", "/v1/records/batch", body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
                elapsed = time.perf_counter() - start
            except (OSError, http.client.HTTPException):
                if conn is not None:
                    conn.close()
                conn = None
                out["retries"] += 1
                time.sleep(0.05)
                continue
            if response.status == 201:
                out["latencies"].append(elapsed)
                out["acked"].extend(r["execution_id"] for r in json.loads(data)["records"])
                break
            if response.status >= 500:
                out["retries"] += 1
                time.sleep(0.05)
                continue
            out["errors"].append(f"{response.status} {data[:200]!r}")
            return
    if conn is not None:
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("base")
    parser.add_argument("token")
    parser.add_argument("keys", nargs="+")
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--deadline", type=float, default=120.0)
    parser.add_argument(
        "--rate", type=float, default=0.0, help="records/s for all clients together (paced)"
    )
    args = parser.parse_args()
    keys = [SigningKey.from_private_text(Path(p).read_text()) for p in args.keys]
    bodies = [signed_batches(k, args.count, args.batch, f"client{i}") for i, k in enumerate(keys)]
    outs = [{"acked": [], "latencies": [], "retries": 0, "errors": []} for _ in keys]
    deadline = time.monotonic() + args.deadline
    print(json.dumps({"ready": True}), flush=True)
    start = time.perf_counter()
    interval = args.batch * len(keys) / args.rate if args.rate else 0.0
    threads = [
        threading.Thread(
            target=client,
            args=(args.base, args.token, b, deadline, o),
            kwargs={"interval": interval},
        )
        for b, o in zip(bodies, outs, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    print(json.dumps({"clients": outs, "wall": wall}), flush=True)


if __name__ == "__main__":
    main()
