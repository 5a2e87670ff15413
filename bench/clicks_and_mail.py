"""Benchmark: click redirects under load, and emails to a local SMTP server.

Clicks: the campaign app (signed-token check, tracking log, cookie, redirect)
served by uvicorn, loaded with ``wrk`` on loopback over 1,000 distinct tracked
links, beside a bare ASGI app that only redirects, measured in the same run.
Afterwards every successful click must be in the tracking log.

Emails: a delivery to N profiles through ``SmtpMailer`` to an aiosmtpd server in
this process, beside plain ``smtplib`` sending the same number of minimal
messages over one connection.

    python bench/clicks_and_mail.py [--seconds 10] [--connections 50] [--emails 2000]

Needs ``wrk`` (Debian: ``apt-get install wrk``).
"""

from __future__ import annotations

import argparse
import csv
import re
import shutil
import smtplib
import socket
import subprocess
import sys
import time
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.controller import Controller
from sqlalchemy import func, select

from audiencehub.campaign import UpsertKey, import_profiles
from audiencehub.campaign.key_vault import KeyVault
from audiencehub.campaign.messaging.delivery import SmtpMailer
from audiencehub.campaign.messaging.sending import send_email_delivery
from audiencehub.campaign.messaging.templates import EmailTemplate
from audiencehub.campaign.messaging.tracking import LinkSigner, TrackedLink
from audiencehub.campaign.schema import profiles, tracking_log
from audiencehub.workspace import init_workspace
from measure import peak_mb, record, scratch_folder

BARE_APP = """
async def app(scope, receive, send):
    await send({"type": "http.response.start", "status": 302,
                "headers": [(b"location", b"https://shop.example.com/")]})
    await send({"type": "http.response.body", "body": b""})
"""


def _port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit(f"the server on port {port} did not start")


def _wrk(port: int, script: Path, seconds: int, connections: int) -> dict[str, float]:
    output = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    requests = int(re.search(r"(\d+) requests in", output)[1])
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", output))
    non_3xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)

    def ms(label: str) -> float:
        value, unit = re.search(rf"{label}\s+([\d.]+)(us|ms|s)", output).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    return {
        "requests": requests,
        "rps": requests / seconds,
        "p50": ms("50%"),
        "p99": ms("99%"),
        "errors": errors + (int(non_3xx[1]) if non_3xx else 0),
    }


def clicks(folder: Path, seconds: int, connections: int, workers: int) -> None:
    workspace = init_workspace(folder / "ws")
    data = folder / "p.csv"
    with data.open("w", newline="") as handle:
        csv.writer(handle).writerows(
            [["crm_id", "email"]] + [[f"C{i}", f"u{i}@x.org"] for i in range(1000)]
        )
    import_profiles(workspace.campaign, data, key=UpsertKey.CRM_ID)
    signer = LinkSigner(KeyVault(workspace.path).derive("tracking"))
    with workspace.campaign.connect() as connection:
        ids = list(connection.execute(select(profiles.c.id)).scalars())
    paths = [
        f"/r/{signer.sign(TrackedLink(1, pid, 0, 'https://shop.example.com/'))}" for pid in ids
    ]
    script = folder / "paths.lua"
    script.write_text(
        "paths = {" + ",".join(f'"{p}"' for p in paths) + "}\ni = 0\n"
        "request = function()\n  i = i + 1\n"
        "  return wrk.format('GET', paths[(i % #paths) + 1])\nend\n"
    )
    (folder / "bare.py").write_text(BARE_APP)
    results = {}
    for name, target, cwd in (
        ("baseline (bare redirect)", "bare:app", folder),
        ("audiencehub", "audiencehub.runtime.servers:campaign_app_from_env", None),
    ):
        port = _port()
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                target,
                "--port",
                str(port),
                "--log-level",
                "warning",
                "--no-access-log",
                "--workers",
                str(workers if "from_env" in target else 1),
            ]
            + (["--factory"] if "from_env" in target else []),
            cwd=cwd,
            env={**__import__("os").environ, "AUDIENCEHUB_WORKSPACE": str(workspace.path)},
        )
        try:
            _wait(port)
            results[name] = _wrk(port, script, seconds, connections)
        finally:
            server.terminate()
            server.wait(timeout=10)
    with workspace.campaign.connect() as connection:
        logged = connection.execute(select(func.count()).select_from(tracking_log)).scalar_one()
    ours = results["audiencehub"]
    print(
        f"\nClick redirects, {seconds} s, {connections} connections, wrk on loopback, 2 cores; "
        f"audiencehub on {workers} uvicorn worker(s), the bare baseline on one\n"
    )
    print(f"{'run':<26} {'clicks/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'errors':>7}")
    for name, r in results.items():
        print(f"{name:<26} {r['rps']:>9,.0f} {r['p50']:>7.1f} {r['p99']:>7.1f} {r['errors']:>7}")
    bare = next(r for name, r in results.items() if name != "audiencehub")
    record(
        "click redirect (tracked, logged)",
        ours["requests"],
        engine="python",
        backend="sqlite",
        seconds=ours["requests"] / ours["rps"],
        baseline="bare redirect, same server stack",
        baseline_seconds=ours["requests"] / bare["rps"],
        items=ours["requests"],
        unit="clicks",
        peak_mb=0.0,
    )
    lost = ours["requests"] - ours["errors"] - logged
    print(
        f"\ntracking log: {logged:,} clicks for {ours['requests'] - ours['errors']:,} answered "
        f"(in-flight requests at the end are logged but not counted by wrk); lost: {max(lost, 0)}"
    )


class _Sink:
    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802, ANN001
        self.count += 1
        return "250 OK"


def mail(folder: Path, count: int) -> None:
    workspace = init_workspace(folder / "mailws")
    data = folder / "m.csv"
    with data.open("w", newline="") as handle:
        csv.writer(handle).writerows(
            [["crm_id", "email", "first_name"]]
            + [[f"C{i}", f"u{i}@x.org", "Jo"] for i in range(count)]
        )
    import_profiles(workspace.campaign, data, key=UpsertKey.CRM_ID)
    sink = _Sink()
    port = _port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        started = time.perf_counter()
        with smtplib.SMTP("127.0.0.1", port) as smtp:
            for i in range(count):
                message = EmailMessage()
                message["From"], message["To"], message["Subject"] = "a@x.org", f"u{i}@x.org", "Hi"
                message.set_content("Hello")
                smtp.send_message(message)
        baseline = time.perf_counter() - started
        settings = workspace.settings.model_copy(
            update={"smtp_host": "127.0.0.1", "smtp_port": port}
        )
        template = EmailTemplate(
            "Hello {{ profile.first_name }}",
            "See https://shop.example.com/ now",
            '<p>Hi {{ profile.first_name }}</p><a href="https://shop.example.com/">Shop</a>',
        )
        signer = LinkSigner(KeyVault(workspace.path).derive("tracking"))
        mailer = SmtpMailer(settings)
        started = time.perf_counter()
        report = send_email_delivery(
            workspace.campaign,
            settings,
            signer,
            mailer,
            name="bench",
            template=template,
            profile_ids=select(profiles.c.id),
        )
        ours = time.perf_counter() - started
        mailer.close()
    finally:
        controller.stop()
    print(f"\nEmails to a local SMTP server (aiosmtpd), {count:,} messages\n")
    print(f"{'run':<34} {'emails/s':>9} {'seconds':>8}")
    print(f"{'baseline (smtplib, minimal message)':<34} {count / baseline:>9,.0f} {baseline:>8.1f}")
    print(f"{'audiencehub (render, track, log)':<34} {report.sent / ours:>9,.0f} {ours:>8.1f}")
    record(
        "email delivery (SMTP)",
        count,
        engine="python",
        backend="sqlite",
        seconds=ours,
        baseline="smtplib, minimal message",
        baseline_seconds=baseline,
        items=report.sent,
        unit="emails",
        peak_mb=peak_mb(),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--emails", type=int, default=2000)
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="uvicorn workers for audiencehub (the bare baseline runs one: its fastest)",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")
    folder = scratch_folder("ah-bench-clicks-")
    clicks(folder, args.seconds, args.connections, args.workers)
    mail(folder, args.emails)


if __name__ == "__main__":
    main()
