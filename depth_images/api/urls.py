from django.urls import path
from rest_framework.routers import DefaultRouter

from depth_images.api.colormaps import ColormapListView
from depth_images.api.datasets import DepthDatasetViewSet
from depth_images.api.frames import FrameNPYView, FramePNGView
from depth_images.api.legacy import LegacyImagesView, LegacyUploadView

router = DefaultRouter()
router.register("depth-datasets", DepthDatasetViewSet, basename="depthdataset")

urlpatterns = [
    path("depth-datasets/<uuid:pk>/frame.png", FramePNGView.as_view(), name="depth-frame-png"),
    path("depth-datasets/<uuid:pk>/frame.npy", FrameNPYView.as_view(), name="depth-frame-npy"),
    path("depth-colormaps/", ColormapListView.as_view(), name="depth-colormaps"),
    *router.urls,
]

# Mounted at the site root: the original service's paths.
legacy_urlpatterns = [
    path("upload-csv/", LegacyUploadView.as_view(), name="legacy-upload-csv"),
    path(
        "get-images/<str:depth_min>/<str:depth_max>/",
        LegacyImagesView.as_view(),
        name="legacy-get-images",
    ),
]
