from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.static import serve
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from depth_images.api.urls import seed_urlpatterns as depth_seed_urls
from depth_images.api.urls import urlpatterns as depth_images_urls
from predictions.api.urls import urlpatterns as predictions_urls
from tiles.api.urls import standalone_urlpatterns as large_image_urls
from tiles.api.urls import urlpatterns as tiles_urls

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/v1/", include(predictions_urls)),
    path("api/v1/", include(depth_images_urls)),
    path("api/v1/", include(tiles_urls)),
    *large_image_urls,
    path("", include(depth_seed_urls)),
]

if settings.DEBUG:
    urlpatterns.append(path("media/<path:path>", serve, {"document_root": settings.MEDIA_ROOT}))
