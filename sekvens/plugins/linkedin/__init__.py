"""LinkedIn social-selling step types: research, get introduced, connect, InMail."""

from sekvens.plugins.linkedin.steps import ConnectStep, GetIntroducedStep, InMailStep, ResearchStep

research = ResearchStep()
get_introduced = GetIntroducedStep()
connect = ConnectStep()
inmail = InMailStep()

__all__ = [
    "ConnectStep",
    "GetIntroducedStep",
    "InMailStep",
    "ResearchStep",
    "connect",
    "get_introduced",
    "inmail",
    "research",
]
