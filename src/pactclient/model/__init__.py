"""The contract on top of Automerge: schema, typed views, actions, derived views. Pure: no I/O, no clock."""

from pactclient.model.actions import Actor, Outcome, view_of
from pactclient.model.schema import SCHEMA_VERSION, check_schema
from pactclient.model.views import ContractView

__all__ = ["Actor", "Outcome", "view_of", "SCHEMA_VERSION", "check_schema", "ContractView"]
