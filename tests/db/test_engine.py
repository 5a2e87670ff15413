"""Engines: nested work is atomic with its transaction on both backends."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from audiencehub.errors import NotFound
from audiencehub.people.data_sources import InboundIdType, add_data_source
from audiencehub.people.schema import traits
from audiencehub.people.traits import add_trait


class _Refused(Exception):
    pass


def test_a_savepoint_rolls_back_with_its_transaction(workspace):
    """Work done inside a savepoint (add_trait uses one) is undone when the outer
    transaction rolls back: no orphan trait is left behind to block its code later."""
    with workspace.people.begin() as connection:
        add_data_source(connection, dpid=7001, name="CRM", inbound_id_type=InboundIdType.CUSTOMER)

    def refused_after_the_trait():
        with workspace.people.begin() as connection:
            add_trait(
                connection,
                trait_id=101,
                name="Shoes",
                data_source_id=7001,
                integration_code="shoes",
            )
            raise _Refused

    with pytest.raises(_Refused):
        refused_after_the_trait()
    with workspace.people.connect() as connection:
        assert connection.execute(select(func.count()).select_from(traits)).scalar_one() == 0
    with workspace.people.begin() as connection:  # the integration code is free again
        add_trait(
            connection, trait_id=102, name="Shoes", data_source_id=7001, integration_code="shoes"
        )


def test_a_refused_savepoint_keeps_the_outer_work(workspace):
    """A savepoint that fails (a duplicate) rolls back alone; the transaction goes on."""
    with workspace.people.begin() as connection:
        add_data_source(connection, dpid=7001, name="CRM", inbound_id_type=InboundIdType.CUSTOMER)
        add_trait(connection, trait_id=101, name="Shoes", data_source_id=7001)
        with pytest.raises(Exception, match="already exists"):
            add_trait(connection, trait_id=101, name="Again", data_source_id=7001)
        add_trait(connection, trait_id=102, name="Bags", data_source_id=7001)
    with workspace.people.connect() as connection:
        assert connection.execute(select(traits.c.id).order_by(traits.c.id)).scalars().all() == [
            101,
            102,
        ]
    with workspace.people.connect() as connection, pytest.raises(NotFound):
        add_trait(connection, trait_id=103, name="X", data_source_id=9999)
