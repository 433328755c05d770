"""Text-message steps for sekvens: `sms.manual` (the seller sends) and `sms.auto` (automated)."""

from sekvens_sms.steps import AutoSms, ManualSms, SmsConfig
from sekvens_sms.transport import OutboxTransport, SmsMessage, SmsTransport

manual = ManualSms()
auto = AutoSms()

__all__ = [
    "AutoSms",
    "ManualSms",
    "OutboxTransport",
    "SmsConfig",
    "SmsMessage",
    "SmsTransport",
    "auto",
    "manual",
]
