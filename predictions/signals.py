"""Signals other apps listen to, so that predictions never imports them."""

from django.dispatch import Signal

# Sent once a job's results are stored and the job is marked completed; ``job_id`` kwarg.
job_completed = Signal()
