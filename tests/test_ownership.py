"""The one rule of who may read a row (``config.ownership``), as every selector applies it."""

import pytest
from django.contrib.auth.models import AnonymousUser

from depth_images import selectors as depth_selectors
from predictions import selectors
from tests.helpers.factories import DepthDatasetFactory, PredictionJobFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_owner_reads_own_rows_only():
    alice, bob = UserFactory(), UserFactory()
    mine, theirs = PredictionJobFactory(owner=alice), PredictionJobFactory(owner=bob)
    assert list(selectors.jobs_for(alice)) == [mine]
    assert selectors.job_for(alice, mine.pk) == mine
    assert selectors.job_for(alice, theirs.pk) is None
    dataset = DepthDatasetFactory(owner=bob)
    assert depth_selectors.dataset_for(alice, dataset.pk) is None
    assert depth_selectors.dataset_for(bob, dataset.pk) == dataset


def test_staff_read_every_row_and_anonymous_none():
    staff = UserFactory(is_staff=True)
    job = PredictionJobFactory()
    assert selectors.job_for(staff, job.pk) == job
    assert selectors.job_for(AnonymousUser(), job.pk) is None
    assert not selectors.jobs_for(AnonymousUser()).exists()


@pytest.mark.parametrize("pk", ["not-a-uuid", "", "0" * 40])
def test_a_malformed_id_reads_as_missing(pk):
    assert selectors.job_for(UserFactory(), pk) is None
    assert depth_selectors.dataset_for(UserFactory(), pk) is None


def test_a_staff_members_own_name_lookup_stays_their_own():
    staff, bob = UserFactory(is_staff=True), UserFactory()
    DepthDatasetFactory(owner=bob, name="default")
    assert depth_selectors.own_dataset_named(staff, "default") is None
