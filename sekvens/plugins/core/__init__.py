"""Core step types: the sequence start, tasks and wait times."""

from sekvens.plugins.core.steps import StartStep, TaskStep, WaitStep

start = StartStep()
task = TaskStep()
wait = WaitStep()

__all__ = ["StartStep", "TaskStep", "WaitStep", "start", "task", "wait"]
