from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from config.errors import not_found
from depth_images.api.urls import legacy_urlpatterns as depth_legacy_urls
from depth_images.api.urls import urlpatterns as depth_images_urls
from predictions.api.media import MediaView
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
    path("", include(depth_legacy_urls)),
    # MEDIA_URL: every stored file goes through the owner check, in every mode.
    path("media/<path:path>", MediaView.as_view(), name="media"),
    re_path(r"^(?P<unmatched>.*)$", not_found, name="not-found"),
]

handler400 = "config.errors.bad_request"
handler403 = "config.errors.permission_denied"
handler404 = "config.errors.not_found"
handler500 = "config.errors.server_error"
