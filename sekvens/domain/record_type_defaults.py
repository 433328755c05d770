"""The record types every new organization starts with, and the default call outcomes."""

from __future__ import annotations

from sekvens.domain.records import FieldInfo, FieldType, RecordTypeInfo

T = FieldType

DEFAULT_CALL_OUTCOMES = ["Connected", "Left voicemail", "No answer", "Wrong number", "Busy"]

_PERSON = (
    FieldInfo("first_name", T.TEXT, "First name"),
    FieldInfo("last_name", T.TEXT, "Last name"),
    FieldInfo("email", T.EMAIL, "Email"),
    FieldInfo("phone", T.PHONE, "Business phone"),
    FieldInfo("mobile_phone", T.PHONE, "Mobile phone"),
    FieldInfo("job_title", T.TEXT, "Job title"),
    FieldInfo("company", T.TEXT, "Company"),
    FieldInfo("linkedin_url", T.TEXT, "LinkedIn profile"),
    FieldInfo("do_not_email", T.BOOLEAN, "Do not email"),
    #: An IANA name: automated emails keep to the send window on this clock.
    FieldInfo("time_zone", T.TEXT, "Time zone"),
    FieldInfo("account_manager", T.USER_LOOKUP, "Account manager"),
)

_SALES_STAGES = ("Qualify", "Develop", "Propose", "Close")


def _type(
    name: str, display: str, fields: tuple[FieldInfo, ...], stages: tuple[str, ...] = ()
) -> RecordTypeInfo:
    return RecordTypeInfo(name, display, {f.name: f for f in fields}, tuple(stages))


DEFAULT_RECORD_TYPES: tuple[RecordTypeInfo, ...] = (
    _type(
        "lead",
        "Lead",
        (
            *_PERSON,
            FieldInfo(
                "lead_source",
                T.OPTION_SET,
                "Lead source",
                ("Web", "Referral", "Event", "Partner", "Cold call", "Other"),
            ),
            FieldInfo("rating", T.OPTION_SET, "Rating", ("Hot", "Warm", "Cold")),
            FieldInfo("qualified", T.BOOLEAN, "Qualified"),
            FieldInfo("estimated_value", T.NUMBER, "Estimated value"),
            FieldInfo("follow_up_date", T.DATE, "Follow-up date"),
        ),
        _SALES_STAGES,
    ),
    _type(
        "opportunity",
        "Opportunity",
        (
            *_PERSON,
            FieldInfo("topic", T.TEXT, "Topic"),
            FieldInfo("amount", T.NUMBER, "Estimated revenue"),
            FieldInfo("probability", T.NUMBER, "Probability"),
            FieldInfo("close_date", T.DATE, "Estimated close date"),
            FieldInfo(
                "forecast_category",
                T.OPTION_SET,
                "Forecast category",
                ("Pipeline", "Best case", "Committed", "Omitted"),
            ),
            FieldInfo("demo_requested", T.BOOLEAN, "Demo requested"),
        ),
        _SALES_STAGES,
    ),
    _type(
        "account",
        "Account",
        (
            *_PERSON,
            FieldInfo("website", T.TEXT, "Website"),
            FieldInfo(
                "industry",
                T.OPTION_SET,
                "Industry",
                ("Software", "Manufacturing", "Retail", "Finance", "Healthcare", "Other"),
            ),
            FieldInfo("employees", T.NUMBER, "Employees"),
            FieldInfo("annual_revenue", T.NUMBER, "Annual revenue"),
            FieldInfo("renewal_date", T.DATE, "Renewal date"),
            FieldInfo("key_account", T.BOOLEAN, "Key account"),
        ),
        ("Onboard", "Adopt", "Expand", "Renew"),
    ),
    _type(
        "contact",
        "Contact",
        (
            *_PERSON,
            FieldInfo(
                "preferred_contact_method",
                T.OPTION_SET,
                "Preferred contact method",
                ("Any", "Email", "Phone"),
            ),
            FieldInfo("attended_event", T.BOOLEAN, "Attended event"),
            FieldInfo("birthday", T.DATE, "Birthday"),
        ),
    ),
)
