"""Email step types: a manual email, an automated email, and a condition on email engagement."""

from sekvens.plugins.email.condition import EmailCondition
from sekvens.plugins.email.send import AutoEmail, ManualEmail

manual = ManualEmail()
auto = AutoEmail()
condition = EmailCondition()

__all__ = ["AutoEmail", "EmailCondition", "ManualEmail", "auto", "condition", "manual"]
