"""Messages over ``/api/v1``: templates, deliveries sent to an audience, and their reports.

A delivery's report counts what the message log and the tracking log hold for
it: sent, failed and skipped by reason, opens and clicks unique and total, and
clicks per link.
"""

# No `from __future__ import annotations`: FastAPI reads these annotations at run time.
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import BaseModel, Field

from audiencehub.campaign.messaging.reports import (
    Delivery,
    DeliveryReport,
    delete_delivery,
    delivery_page,
    delivery_report,
    get_delivery,
)
from audiencehub.campaign.messaging.sending import send_to_audience
from audiencehub.campaign.messaging.template_library import (
    StoredTemplate,
    delete_template,
    get_template,
    list_templates,
)
from audiencehub.campaign.messaging.templates import EmailTemplate
from audiencehub.campaign.messaging.triggers import add_template
from audiencehub.campaign.services import CampaignServices
from audiencehub.campaign.users import Role, User
from audiencehub.campaign.web.access import Access
from audiencehub.restapi import Cursor, Limit, Page, check_if_match, page_of, page_rows, with_etag

__all__ = ["messaging_router"]

DeliveryId = Annotated[int, Path(ge=1, le=2**62, examples=[3])]
TemplateName = Annotated[str, Path(min_length=1, max_length=255, examples=["order-shipped"])]


class TemplateBody(BaseModel):
    """A template: Jinja text, checked when stored so no send meets a broken one."""

    channel: str = Field(pattern="^(email|sms)$", examples=["email"])
    subject: str = Field(default="", max_length=998, examples=["Hello {{ profile.first_name }}"])
    text: str = Field(min_length=1, max_length=100_000, examples=["Hi {{ profile.first_name }}"])
    html: str = Field(default="", max_length=500_000)


class NewDelivery(BaseModel):
    """An email delivery to every member of an audience."""

    audience: str = Field(min_length=1, max_length=255, examples=["Shoe buyers"])
    name: str = Field(min_length=1, max_length=255, examples=["Spring sale"])
    subject: str = Field(min_length=1, max_length=998, examples=["Spring sale"])
    text: str = Field(min_length=1, max_length=100_000)
    html: str = Field(min_length=1, max_length=500_000)


class Sent(BaseModel):
    """What a send did."""

    delivery_id: int
    sent: int
    failed: int
    skipped: int
    reasons: dict[str, int]


def messaging_router(services: CampaignServices, access: Access) -> APIRouter:
    """Template and delivery routes."""
    router = APIRouter(prefix="/api/v1")
    viewer, marketer = access.needs(Role.VIEWER), access.needs(Role.MARKETER)
    engine = services.engine

    @router.get("/templates", tags=["templates"])
    def templates(
        _: Annotated[User, Depends(viewer)], cursor: Cursor = None, limit: Limit = 100
    ) -> Page[StoredTemplate]:
        """Stored templates, by name."""
        with engine.connect() as connection:
            return page_of(list_templates(connection), lambda t: t["name"], cursor, limit)

    @router.get("/templates/{name}", tags=["templates"])
    def show_template(
        name: TemplateName, response: Response, _: Annotated[User, Depends(viewer)]
    ) -> StoredTemplate:
        """One template, with its ETag."""
        with engine.connect() as connection:
            return with_etag(response, get_template(connection, name))

    @router.put("/templates/{name}", tags=["templates"])
    def store_template(
        name: TemplateName,
        body: TemplateBody,
        request: Request,
        response: Response,
        _: Annotated[User, Depends(marketer)],
    ) -> StoredTemplate:
        """Store or replace a template (checked now)."""
        if request.headers.get("if-match"):
            with engine.connect() as connection:
                check_if_match(request.headers["if-match"], get_template(connection, name))
        add_template(engine, name=name, **body.model_dump())
        with engine.connect() as connection:
            return with_etag(response, get_template(connection, name))

    @router.delete("/templates/{name}", tags=["templates"], status_code=204)
    def remove_template(name: TemplateName, _: Annotated[User, Depends(marketer)]) -> None:
        """Delete a template; what was sent with it stays logged."""
        with engine.begin() as connection:
            delete_template(connection, name)

    @router.get("/deliveries", tags=["deliveries"])
    def deliveries(
        _: Annotated[User, Depends(viewer)], cursor: Cursor = None, limit: Limit = 50
    ) -> Page[Delivery]:
        """Deliveries and triggered-message logs, newest first."""
        with engine.connect() as connection:
            return page_rows(
                lambda before, n: delivery_page(connection, before, n),
                lambda d: d["id"],
                cursor,
                limit,
            )

    @router.post("/deliveries", tags=["deliveries"], status_code=201)
    def send_delivery(body: NewDelivery, _: Annotated[User, Depends(marketer)]) -> Sent:
        """Send an email delivery to an audience; opted-out, blocklisted and unreachable
        members are skipped with their reason."""
        template = EmailTemplate(body.subject, body.text, body.html)
        template.check()
        report = send_to_audience(
            engine, services.messaging, audience=body.audience, name=body.name, template=template
        )
        return Sent(
            delivery_id=report.delivery_id,
            sent=report.sent,
            failed=report.failed,
            skipped=report.skipped,
            reasons=report.reasons,
        )

    @router.get("/deliveries/{delivery_id}", tags=["deliveries"])
    def show_delivery(delivery_id: DeliveryId, _: Annotated[User, Depends(viewer)]) -> Delivery:
        """One delivery."""
        with engine.connect() as connection:
            return get_delivery(connection, delivery_id)

    @router.get("/deliveries/{delivery_id}/report", tags=["deliveries"])
    def report(delivery_id: DeliveryId, _: Annotated[User, Depends(viewer)]) -> DeliveryReport:
        """Sent, failed and skipped by reason; opens and clicks, unique and total, per link."""
        with engine.connect() as connection:
            return delivery_report(connection, delivery_id)

    @router.delete("/deliveries/{delivery_id}", tags=["deliveries"], status_code=204)
    def remove_delivery(delivery_id: DeliveryId, _: Annotated[User, Depends(marketer)]) -> None:
        """Delete a delivery that sent nothing (a sent one stays, as the record)."""
        with engine.begin() as connection:
            delete_delivery(connection, delivery_id)

    return router
