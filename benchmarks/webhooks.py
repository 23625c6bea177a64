"""`python -m benchmarks.webhooks`: what webhooks cost a push, and how fast the outbox drains.

One `portside serve` (one worker, SQLite + filesystem: the default a user gets) and an HTTP
receiver on loopback that answers 200 at once.

- Push latency: a manifest PUT (each under a new tag, so each is a push event) timed one at a
  time, in alternating rounds without a webhook and with one webhook that matches every push
  (its events written in the push's transaction and delivered in the background meanwhile).
- Delivery rate: events written while delivery is off (`webhook_poll_seconds = 0`), then the
  server restarted with delivery on; the rate is counted from the first event the receiver gets
  to the last, for one webhook (sent one at a time, in order) and for several (in parallel).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

from benchmarks.populate import OCI_MANIFEST, push_image
from benchmarks.servers import Server, start_portside

ADMIN = "benchmark-webhooks-admin"
HOOKS = "/api/v1/registries/default/webhooks"


class Receiver:
    """Counts the webhook requests it answers, with the time of the first and the last."""

    def __init__(self) -> None:
        self.count = 0
        self.first = 0.0
        self.last = 0.0
        lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as a production receiver

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                with lock:
                    now = time.perf_counter()
                    receiver.first = receiver.first or now
                    receiver.last = now
                    receiver.count += 1

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"


@contextmanager
def receiving() -> Iterator[Receiver]:
    """A receiver serving in a thread until the block ends."""
    receiver = Receiver()
    thread = threading.Thread(target=receiver.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()


def portside(root: Path, poll: float) -> Server:
    """The server, allowed to call the loopback receiver, delivering every `poll` seconds."""
    server = start_portside(root, workers=1)
    server.env.update(
        {
            "PORTSIDE_ADMIN_PASSWORD": ADMIN,
            "PORTSIDE_ALLOW_PRIVATE_NETWORK_TARGETS": "true",
            "PORTSIDE_WEBHOOK_POLL_SECONDS": str(poll),
        }
    )
    return server


def add_hook(server: Server, name: str, uri: str) -> None:
    """A push webhook on every repository."""
    body = {"name": name, "serviceUri": uri, "actions": ["push"]}
    httpx.post(f"{server.url}{HOOKS}", json=body, auth=("admin", ADMIN)).raise_for_status()


def delete_hook(server: Server, name: str) -> None:
    """Remove a webhook (and its events)."""
    httpx.delete(f"{server.url}{HOOKS}/{name}", auth=("admin", ADMIN)).raise_for_status()


def put_latencies(server: Server, body: bytes, prefix: str, count: int) -> list[float]:
    """Seconds of each of `count` manifest PUTs under new tags, one at a time."""
    took = []
    with httpx.Client(base_url=server.url, timeout=60) as client:
        for n in range(count):
            started = time.perf_counter()
            answer = client.put(
                f"/v2/bench/app/manifests/{prefix}-{n}",
                content=body,
                headers={"Content-Type": OCI_MANIFEST},
            )
            took.append(time.perf_counter() - started)
            answer.raise_for_status()
    return took


def latency(root: Path, rounds: int, count: int) -> tuple[list[float], list[float]]:
    """Manifest PUT seconds without and with a matching webhook, alternating rounds."""
    server = portside(root / "latency", poll=1.0)
    server.start()
    without: list[float] = []
    with_hook: list[float] = []
    try:
        with receiving() as receiver:
            body = push_image(server.url, "bench/app", "seed", [1024]).manifest
            put_latencies(server, body, "warm", 50)
            for r in range(rounds):
                without += put_latencies(server, body, f"plain{r}", count)
                add_hook(server, f"bench{r:04d}", receiver.url)
                with_hook += put_latencies(server, body, f"hooked{r}", count)
                delete_hook(server, f"bench{r:04d}")
    finally:
        server.stop()
    return without, with_hook


def cpu_seconds(server: Server) -> float:
    """User and system CPU time the server's processes have used so far."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in server.pids():
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def delivery_rate(root: Path, hooks: int, events: int) -> tuple[float, float]:
    """Events per second delivered to the receiver, `events` per webhook over `hooks`
    webhooks; and events per CPU second of the server (what a busy machine does not blur)."""
    work = root / f"rate{hooks}"
    with receiving() as receiver:
        quiet = portside(work, poll=0)
        quiet.start()
        try:
            for n in range(hooks):
                add_hook(quiet, f"rate{n:05d}", receiver.url)
            body = push_image(quiet.url, "bench/app", "seed", [1024]).manifest
            asyncio.run(_put_many(quiet.url, body, events))
        finally:
            quiet.stop()
        total = events * hooks + hooks  # the seed's own event too
        server = portside(work, poll=1.0)
        server.start()
        try:
            deadline = time.monotonic() + 600
            while not receiver.count and time.monotonic() < deadline:
                time.sleep(0.005)
            counted, cpu = receiver.count, cpu_seconds(server)
            while receiver.count < total and time.monotonic() < deadline:
                time.sleep(0.05)
            cpu = cpu_seconds(server) - cpu
        finally:
            server.stop()
        if receiver.count < total:
            raise RuntimeError(f"{receiver.count} of {total} events delivered")
        wall = (receiver.count - 1) / (receiver.last - receiver.first)
        return wall, (receiver.count - counted) / cpu


async def _put_many(url: str, body: bytes, count: int) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        semaphore = asyncio.Semaphore(8)

        async def put(n: int) -> None:
            async with semaphore:
                answer = await client.put(
                    f"/v2/bench/app/manifests/e{n:06d}",
                    content=body,
                    headers={"Content-Type": OCI_MANIFEST},
                )
                answer.raise_for_status()

        await asyncio.gather(*(put(n) for n in range(count)))


def ms(values: list[float], q: float) -> str:
    """The q-quantile of `values`, in milliseconds."""
    ordered = sorted(values)
    return f"{ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000:.2f}"


def main() -> None:
    """Run both measurements and print one table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--pushes", type=int, default=150, help="manifest PUTs per round")
    parser.add_argument("--events", type=int, default=1000, help="events per webhook")
    parser.add_argument("--hooks", type=int, default=8, help="webhooks in the parallel case")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="portside-bench-hooks-") as tmp:
        root = Path(tmp)
        without, with_hook = latency(root, args.rounds, args.pushes)
        one = delivery_rate(root, 1, args.events)
        many = delivery_rate(root, args.hooks, args.events // args.hooks)
    print("manifest PUT latency (ms)      median    p95")
    print(f"  no webhook                  {ms(without, 0.5):>7} {ms(without, 0.95):>7}")
    print(f"  one matching webhook        {ms(with_hook, 0.5):>7} {ms(with_hook, 0.95):>7}")
    print(
        f"  (mean {statistics.mean(without) * 1000:.2f} vs "
        f"{statistics.mean(with_hook) * 1000:.2f} ms, {len(without)} PUTs each)"
    )
    print("delivery to a loopback receiver      events/s   per server CPU second")
    print(f"  1 webhook ({args.events} events)        {one[0]:8.0f} {one[1]:8.0f}")
    label = f"{args.hooks} webhooks ({args.events // args.hooks} events each)"
    print(f"  {label:<32}{many[0]:8.0f} {many[1]:8.0f}")


if __name__ == "__main__":
    main()
