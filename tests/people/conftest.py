"""Fixtures of people-service scenarios."""

from __future__ import annotations

import pytest

from audiencehub.people.data_sources import InboundIdType, add_data_source
from audiencehub.people.traits import add_trait


@pytest.fixture
def people(workspace):
    """A people service with a customer-ID source 7001 (traits T101-T103, rule T104)
    and a visitor-ID source 7002 (trait T201)."""
    with workspace.people.begin() as connection:
        add_data_source(connection, dpid=7001, name="CRM", inbound_id_type=InboundIdType.CUSTOMER)
        add_data_source(connection, dpid=7002, name="Web", inbound_id_type=InboundIdType.VISITOR)
        add_trait(connection, trait_id=101, name="Shoes", data_source_id=7001)
        add_trait(
            connection, trait_id=102, name="Bags", data_source_id=7001, integration_code="bags"
        )
        add_trait(connection, trait_id=103, name="Returns", data_source_id=7001)
        add_trait(
            connection, trait_id=104, name="Women", data_source_id=7001, rule={"gender": "female"}
        )
        add_trait(connection, trait_id=201, name="Visited", data_source_id=7002)
    return workspace
