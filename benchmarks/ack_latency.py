"""Ack latency while large CSVs are analysed, and the time from an upload event to its card.

Runs ``python -m bot`` (HTTP mode) as a separate process against the Web API stand-in, then:
  1. posts four large user-level CSVs (the analyses run in the bot's workers),
  2. at once sends N signed ``/experiment help`` commands at concurrency C and times each ack,
  3. times a two-arm upload event → its card (chat.update with the card) on an idle bot, and
     again while large analyses run.
Goals (SPEC §4): ack p99 < 50 ms; card < 500 ms. Not a test; CI never runs it.

    .venv/bin/python benchmarks/ack_latency.py [--executor process|thread] [--rows 400000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "bot"), str(ROOT / "tests")]

from harness import CHANNEL, SIGNING_SECRET, RunningBot  # noqa: E402
from slack_standin import SlackStandIn  # noqa: E402

TWO_ARMS = (
    b"variant,users,conversions,guardrail_error\ncontrol,20000,2000,200\ntreatment,20000,2200,201\n"
)


def large_csv(rows: int, seed: int) -> bytes:
    rng = random.Random(seed)
    lines = ["user_id,variant,converted,revenue"]
    for i in range(rows):
        arm = "control" if rng.random() < 0.5 else "treatment"
        converted = rng.random() < (0.10 if arm == "control" else 0.105)
        revenue = round(rng.expovariate(0.2), 2) if converted else 0
        lines.append(f"u{seed}_{i},{arm},{int(converted)},{revenue}")
    return ("\n".join(lines) + "\n").encode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def start_bot(
    standin: SlackStandIn, args: argparse.Namespace
) -> tuple[asyncio.subprocess.Process, str]:
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SLACK_")},
        "SLACK_BOT_TOKEN": standin.bot_token,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": standin.api_url,
        "PORT": str(port),
        "HOST": "127.0.0.1",
        "ANALYSIS_EXECUTOR": args.executor,
        "ANALYSIS_WORKERS": str(args.workers),
        "MAX_DOWNLOAD_BYTES": str(200 * 1024 * 1024),
        "LOG_LEVEL": "WARNING",
        # A fresh history each run: the stand-in's file ids repeat, and the store dedupes them.
        "DATABASE_URL": f"sqlite+aiosqlite:///{tempfile.mkdtemp(prefix='ack-bench-')}/history.db",
    }
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", cwd=ROOT, env=env)
    url = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as session:
        for _ in range(1200):
            try:
                async with session.get(url + "/healthz") as response:
                    if response.status == 200 and (await response.json())["workers_ready"]:
                        return process, url
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise SystemExit("the bot did not start")


async def time_acks(bot: RunningBot, total: int, concurrency: int) -> list[float]:
    latencies: list[float] = []
    queue = iter(range(total))

    async def worker() -> None:
        for _ in queue:
            start = time.perf_counter()
            status, _ = await bot.command("help")
            latencies.append(time.perf_counter() - start)
            assert status == 200, status

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies


async def time_card(bot: RunningBot, standin: SlackStandIn) -> float:
    """Seconds from sending a two-arm upload event to the card arriving at the Web API."""
    file = standin.add_file("two_arms.csv", TWO_ARMS)
    start = time.monotonic()
    ts = await bot.upload([file])
    await standin.wait_for(lambda: standin.cards(CHANNEL, ts), within_s=300)
    update = next(
        c
        for c in reversed(standin.calls)
        if c.method in ("chat.update", "chat.postMessage") and "header" in str(c.args.get("blocks"))
    )
    return update.at - start


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def main(args: argparse.Namespace) -> None:
    print(f"generating 4 user-level CSVs of {args.rows:,} rows…", flush=True)
    big = [large_csv(args.rows, seed) for seed in range(4)]
    standin = await SlackStandIn().start()
    process, url = await start_bot(standin, args)
    try:
        async with aiohttp.ClientSession() as session:
            bot = RunningBot(url, None, standin, session)  # type: ignore[arg-type]
            await time_acks(bot, 20, 5)  # warm the HTTP path and auth.test
            idle_cards = [await time_card(bot, standin) for _ in range(5)]

            # Count from here: the idle cards' downloads are done already.
            downloads_before = standin.downloads_completed
            uploads = [
                await bot.upload([standin.add_file(f"big{i}.csv", data)])
                for i, data in enumerate(big)
            ]
            started = time.monotonic()

            def big_cards() -> int:
                return sum(1 for ts in uploads if standin.cards(CHANNEL, ts))

            # Measure while the files are analysed, not while this process serves their bytes.
            await standin.wait_for(
                lambda: standin.downloads_completed >= downloads_before + 4, within_s=300
            )
            running_at_start = len(uploads) - big_cards()
            latencies = await time_acks(bot, args.requests, args.concurrency)
            running_at_end = len(uploads) - big_cards()
            busy_card = await time_card(bot, standin)
            await standin.wait_for(
                lambda: all(standin.cards(CHANNEL, ts) for ts in uploads), within_s=600
            )
            big_done = time.monotonic() - started
    finally:
        process.send_signal(signal.SIGTERM)
        await process.wait()
        await standin.close()

    ms = [x * 1000 for x in latencies]
    if running_at_end == 0:
        print("WARNING: every large analysis had finished before the last ack; raise --rows")
    print(
        f"executor={args.executor} workers={args.workers} cpus={os.cpu_count()} "
        f"large CSVs: 4 × {len(big[0]) / 1e6:.1f} MB ({args.rows:,} users each)"
    )
    print(
        f"ack latency over {len(ms)} /experiment help at concurrency {args.concurrency} "
        f"(large analyses running: {running_at_start} of 4 at the first ack, "
        f"{running_at_end} at the last): p50 {statistics.median(ms):.1f} ms, "
        f"p99 {percentile(ms, 99):.1f} ms, max {max(ms):.1f} ms"
    )
    print(
        f"two-arm upload event → card, idle bot: median {statistics.median(idle_cards) * 1000:.0f} ms "
        f"(min {min(idle_cards) * 1000:.0f}, max {max(idle_cards) * 1000:.0f})"
    )
    print(f"two-arm upload event → card, while the large CSVs run: {busy_card * 1000:.0f} ms")
    print(f"four large CSVs → their cards: {big_done:.1f} s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--executor", choices=["process", "thread"], default="process")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rows", type=int, default=400_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=20)
    asyncio.run(main(parser.parse_args()))
