"""Deliveries: compose one to an audience, send a proof, send it (followed as a task), and
the report with sent, failed and skipped, and opens and clicks over time."""

# No `from __future__ import annotations`: FastAPI reads these annotations at run time.
import json
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from audiencehub.campaign.audiences import list_audiences
from audiencehub.campaign.messaging.reports import (
    delivery_page,
    delivery_report,
    delivery_timeline,
)
from audiencehub.campaign.messaging.sending import send_proof, send_to_audience
from audiencehub.campaign.messaging.templates import EmailTemplate
from audiencehub.campaign.users import Role, User
from audiencehub.campaign.web.ui.access import PageAccess
from audiencehub.errors import AudienceHubError

__all__ = ["delivery_pages"]

Text = Annotated[str, Form(max_length=100_000)]


def delivery_pages(access: PageAccess) -> APIRouter:
    """``/deliveries``, composing, proofs and reports."""
    router = APIRouter(include_in_schema=False)
    services, pages, tasks = access.services, access.pages, access.tasks
    engine = services.engine
    viewer, marketer = access.needs(Role.VIEWER), access.needs(Role.MARKETER)

    @router.get("/deliveries")
    def deliveries(request: Request, _: Annotated[User, Depends(viewer)]) -> Response:
        with engine.connect() as connection:
            rows = delivery_page(connection, None, 50)
            audiences = [a["name"] for a in list_audiences(connection) if a["type"] != "file"]
        return pages.render(request, "deliveries.html", {"rows": rows, "audiences": audiences})

    @router.post("/deliveries/proof")
    def proof(
        request: Request,
        _: Annotated[User, Depends(marketer)],
        audience: Annotated[str, Form(max_length=255)],
        subject: Annotated[str, Form(max_length=998)],
        text: Text,
        html: Text,
        proof_to: Annotated[str, Form(max_length=320)],
    ) -> Response:
        try:
            sent = send_proof(
                engine,
                services.messaging,
                audience=audience,
                template=EmailTemplate(subject, text, html),
                to=proof_to,
            )
        except AudienceHubError as exc:
            return _refused(request, exc)
        return pages.render(request, "sent.html", {"message": f"Proof sent to {proof_to}: {sent}"})

    @router.post("/deliveries")
    def send(
        request: Request,
        user: Annotated[User, Depends(marketer)],
        audience: Annotated[str, Form(max_length=255)],
        name: Annotated[str, Form(max_length=255)],
        subject: Annotated[str, Form(max_length=998)],
        text: Text,
        html: Text,
    ) -> Response:
        template = EmailTemplate(subject, text, html)
        try:
            template.check()
        except AudienceHubError as exc:
            return _refused(request, exc)
        task = tasks.start(
            f"Delivery {name} to {audience}",
            user["name"],
            lambda: send_to_audience(
                engine, services.messaging, audience=audience, name=name, template=template
            ),
            link=lambda report: f"/deliveries/{report.delivery_id}",
        )
        return pages.render(request, "task.html", {"task": task})

    @router.get("/deliveries/{delivery_id}")
    def report(request: Request, delivery_id: int, _: Annotated[User, Depends(viewer)]) -> Response:
        with engine.connect() as connection:
            found = delivery_report(connection, delivery_id)
            timeline = delivery_timeline(connection, delivery_id)
        series = {
            "x": [int(point["hour"].timestamp()) for point in timeline],
            "series": [
                {"label": "Opens", "values": [p["opens"] for p in timeline]},
                {"label": "Clicks", "values": [p["clicks"] for p in timeline]},
            ],
        }
        return pages.render(
            request, "delivery.html", {"report": found, "series": json.dumps(series)}
        )

    def _refused(request: Request, exc: AudienceHubError) -> Response:
        outcome = {"ok": False, "error": exc.message, "hint": exc.hint}
        return pages.render(request, "test_result.html", outcome)

    return router
