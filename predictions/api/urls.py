from django.urls import path
from rest_framework.routers import DefaultRouter

from predictions.api.batches import BatchViewSet
from predictions.api.metrics import ShapeAnalysisView
from predictions.api.predictions import PredictionJobViewSet

router = DefaultRouter()
router.register("predictions", PredictionJobViewSet, basename="predictionjob")
router.register("batches", BatchViewSet, basename="batch")

urlpatterns = [
    path("metrics/shape_analysis/", ShapeAnalysisView.as_view(), name="shape-analysis"),
    # A file's name, so no trailing slash (the router's routes have one).
    path(
        "batches/<uuid:pk>/metrics.csv",
        BatchViewSet.as_view({"get": "metrics_csv"}),
        name="batch-metrics-csv",
    ),
    *router.urls,
]
