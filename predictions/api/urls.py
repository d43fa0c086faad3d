from django.urls import path
from rest_framework.routers import DefaultRouter

from predictions.api.metrics import ShapeAnalysisView
from predictions.api.predictions import PredictionJobViewSet

router = DefaultRouter()
router.register("predictions", PredictionJobViewSet, basename="predictionjob")

urlpatterns = [
    path("metrics/shape_analysis/", ShapeAnalysisView.as_view(), name="shape-analysis"),
    *router.urls,
]
