"""Phone-call step types: a call for the seller, and a condition on the call's outcome."""

from sekvens.plugins.call.condition import CallCondition
from sekvens.plugins.call.phone import PhoneCall

phone = PhoneCall()
condition = CallCondition()

__all__ = ["CallCondition", "PhoneCall", "condition", "phone"]
