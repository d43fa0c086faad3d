"""A hostile user's corpus: every request is refused with a 4xx whose JSON names the problem,
and nothing stored changes, byte for byte (database rows and media files alike).

The corpus runs against one set of data (a completed job, a pending job, a depth dataset with
its tiles) belonging to alice, who sends every request.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import tifffile
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image
from rest_framework.test import APIClient

from depth_images.models import DepthDataset, DepthRow
from depth_images.services import ingest
from depth_images.synthetic import csv_bytes
from predictions.models import Batch, PredictionJob, WebhookDelivery
from tests.helpers.factories import PredictionJobFactory
from tests.helpers.images import blobs_image, png_bytes
from tests.helpers.jobs import completed_job
from tiles import tasks as tile_tasks
from tiles.models import TiledImage

pytestmark = pytest.mark.django_db


def image_bytes(array: np.ndarray, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt, **options)
    return buffer.getvalue()


def tiff_bytes(array: np.ndarray, **options) -> bytes:
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, array, **options)
    return buffer.getvalue()


def ome_tiff(shape: tuple[int, ...], axes: str) -> bytes:
    return tiff_bytes(np.zeros(shape, np.uint8), ome=True, metadata={"axes": axes})


def gray_tiff(shape: tuple[int, ...]) -> bytes:
    return tiff_bytes(np.zeros(shape, np.uint8), photometric="minisblack")


def npy_bytes(array: np.ndarray, **options) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, **options)
    return buffer.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A valid PNG header claiming ``width`` x ``height``, with a tiny body."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body).to_bytes(4, "big")
        return len(body).to_bytes(4, "big") + kind + body + crc

    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 0, 0, 0, 0])
    body = chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 10))
    return b"\x89PNG\r\n\x1a\n" + body + chunk(b"IEND", b"")


BLOBS = blobs_image()
PNG = png_bytes(BLOBS)
CSV = csv_bytes(20, seed=9)


def csv_with(value: str, column: int = 1) -> bytes:
    """A valid CSV whose second data row has ``value`` in ``column`` (0 is the depth)."""
    lines = CSV.decode().splitlines()
    fields = lines[2].split(",")
    fields[column] = value
    lines[2] = ",".join(fields)
    return ("\n".join(lines) + "\n").encode()


@dataclass
class Case:
    name: str
    method: str
    path: str  # {job}, {pending}, {dataset}: ids of alice's objects
    status: int
    names: str  # what the JSON must name: a key, or text in its messages
    data: dict = field(default_factory=dict)
    query: dict = field(default_factory=dict)
    headers: dict = field(default_factory=dict)
    settings: dict = field(default_factory=dict)


def upload(name: str, content: bytes) -> tuple[str, bytes]:
    return (name, content)


def zip_of(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


JOBS = "/api/v1/predictions/"
BATCHES = "/api/v1/batches/"
TILE = "/api/v1/tiles/inputs/{job}"
FRAME = "/api/v1/depth-datasets/{dataset}/frame.png"

CASES = [
    # Uploads: the file
    Case("no file", "post", JOBS, 400, "input_image"),
    Case("empty file", "post", JOBS, 400, "input_image", {"input_image": upload("a.png", b"")}),
    Case("text", "post", JOBS, 400, "input_image", {"input_image": upload("a.png", b"hello")}),
    Case("html", "post", JOBS, 400, "input_image",
         {"input_image": upload("x.html", b"<html><script>alert(1)</script></html>")}),
    Case("truncated png", "post", JOBS, 400, "input_image",
         {"input_image": upload("a.png", PNG[: len(PNG) // 2])}),
    Case("png signature only", "post", JOBS, 400, "input_image",
         {"input_image": upload("a.png", PNG[:8] + b"\0" * 40)}),
    Case("webp", "post", JOBS, 400, "WEBP",
         {"input_image": upload("a.webp", image_bytes(BLOBS, "WEBP"))}),
    Case("bmp", "post", JOBS, 400, "BMP",
         {"input_image": upload("a.bmp", image_bytes(BLOBS, "BMP"))}),
    Case("gif", "post", JOBS, 400, "GIF",
         {"input_image": upload("a.gif", image_bytes(BLOBS, "GIF"))}),
    Case("3-page tiff without axes", "post", JOBS, 400, "channel_axis",
         {"input_image": upload("a.tif", gray_tiff((3, 32, 32)))}),
    Case("4d tiff without axes", "post", JOBS, 400, "channel_axis",
         {"input_image": upload("a.tif", gray_tiff((2, 3, 32, 32)))}),
    Case("time series without t_index", "post", JOBS, 400, "t_index",
         {"input_image": upload("a.tif", ome_tiff((3, 32, 32), "TYX"))}),
    Case("t_index past the end", "post", JOBS, 400, "t_index",
         {"input_image": upload("a.tif", ome_tiff((3, 32, 32), "TYX")), "t_index": "3"}),
    Case("four channels for cpsam", "post", JOBS, 400, "channels",
         {"input_image": upload("a.tif", ome_tiff((4, 32, 32), "CYX")), "channels": "0,1,2,3"}),
    Case("unknown channel name", "post", JOBS, 400, "channels",
         {"input_image": upload("a.tif", ome_tiff((2, 32, 32), "CYX")), "channels": "RFP"}),
    Case("empty channel list item", "post", JOBS, 400, "channels",
         {"input_image": upload("a.tif", ome_tiff((2, 32, 32), "CYX")), "channels": "0,,1"}),
    Case("too many channels", "post", JOBS, 400, "CELLSERVE_MAX_CHANNELS",
         {"input_image": upload("a.tif", ome_tiff((17, 16, 16), "CYX"))}),
    Case("z_axis out of range", "post", JOBS, 400, "z_axis",
         {"input_image": upload("a.tif", gray_tiff((3, 32, 32))), "z_axis": "5"}),
    Case("z_axis on the image's rows", "post", JOBS, 400, "z_axis",
         {"input_image": upload("a.tif", gray_tiff((3, 32, 32))), "z_axis": "1"}),
    Case("channel_axis not a number", "post", JOBS, 400, "channel_axis",
         {"input_image": upload("a.tif", gray_tiff((3, 32, 32))), "channel_axis": "c"}),
    Case("do_3D on a 2D image", "post", JOBS, 400, "do_3D",
         {"input_image": upload("a.png", PNG), "do_3D": "true"}),
    Case("z-stack with do_3D false", "post", JOBS, 400, "do_3D",
         {"input_image": upload("a.tif", ome_tiff((3, 32, 32), "ZYX")), "do_3D": "false"}),
    Case("stitch_threshold above 1", "post", JOBS, 400, "stitch_threshold",
         {"input_image": upload("a.tif", ome_tiff((3, 32, 32), "ZYX")), "stitch_threshold": "2"}),
    Case("negative anisotropy", "post", JOBS, 400, "anisotropy",
         {"input_image": upload("a.tif", ome_tiff((3, 32, 32), "ZYX")), "anisotropy": "-1"}),
    Case("nuclear_channel for cpsam", "post", JOBS, 400, "nuclear_channel",
         {"input_image": upload("a.tif", ome_tiff((2, 32, 32), "CYX")), "nuclear_channel": "0"}),
    Case("zero pixel size", "post", JOBS, 400, "pixel_size_um",
         {"input_image": upload("a.png", PNG), "pixel_size_um": "0"}),
    Case("2D masks for a z-stack", "post", JOBS, 400, "input_masks",
         {"input_image": upload("a.tif", ome_tiff((3, 32, 32), "ZYX")),
          "input_masks": upload("m.npy", npy_bytes(np.zeros((32, 32), np.uint16)))}),
    Case("3D masks for a 2D image", "post", JOBS, 400, "input_masks",
         {"input_image": upload("a.png", PNG),
          "input_masks": upload("m.npy", npy_bytes(np.zeros((3, *BLOBS.shape[:2]), np.uint16)))}),
    Case("superscript channel index", "post", JOBS, 400, "channels",
         {"input_image": upload("a.tif", ome_tiff((2, 32, 32), "CYX")), "channels": "\u00b2"}),
    Case("tiled png", "post", JOBS, 400, "tiled",
         {"input_image": upload("a.png", PNG), "tiled": "true"}),
    Case("tiled with masks", "post", JOBS, 400, "tiled",
         {"input_image": upload("a.tif", gray_tiff((32, 32))), "tiled": "true",
          "input_masks": upload("m.npy", npy_bytes(np.zeros((32, 32), np.uint16)))}),
    Case("truncated tiff", "post", JOBS, 400, "input_image",
         {"input_image": upload("a.tif", tiff_bytes(np.ones((300, 300), np.uint16))[:3000])}),
    Case("pixel bomb", "post", JOBS, 400, "input_image",
         {"input_image": upload("a.png", png_claiming(30_000, 30_000))}),
    Case("one pixel", "post", JOBS, 400, "input_image",
         {"input_image": upload("a.png", png_bytes(np.zeros((1, 1), np.uint8)))}),
    Case("two files", "post", JOBS, 400, "input_image",
         {"input_image": [upload("a.png", PNG), upload("b.png", PNG)]}),
    Case("too large", "post", JOBS, 413, "input_image", {"input_image": upload("a.png", PNG)},
         settings={"CELLSERVE_MAX_UPLOAD_BYTES": 1000}),
    # Uploads: the parameters
    Case("empty model_type", "post", JOBS, 400, "model_type",
         {"input_image": upload("a.png", PNG), "model_type": ""}),
    Case("unknown model_type", "post", JOBS, 400, "model_type",
         {"input_image": upload("a.png", PNG), "model_type": "unet"}),
    Case("two model_types", "post", JOBS, 400, "model_type",
         {"input_image": upload("a.png", PNG), "model_type": ["watershed", "cpsam"]}),
    Case("negative diameter", "post", JOBS, 400, "diameter",
         {"input_image": upload("a.png", PNG), "diameter": "-3"}),
    Case("nan diameter", "post", JOBS, 400, "diameter",
         {"input_image": upload("a.png", PNG), "diameter": "nan"}),
    Case("infinite diameter", "post", JOBS, 400, "diameter",
         {"input_image": upload("a.png", PNG), "diameter": "1e309"}),
    Case("text flow_threshold", "post", JOBS, 400, "flow_threshold",
         {"input_image": upload("a.png", PNG), "flow_threshold": "abc"}),
    Case("huge cellprob", "post", JOBS, 400, "cellprob_threshold",
         {"input_image": upload("a.png", PNG), "cellprob_threshold": "99"}),
    Case("fractional min_size", "post", JOBS, 400, "min_size",
         {"input_image": upload("a.png", PNG), "min_size": "1.5"}),
    Case("huge min_size", "post", JOBS, 400, "min_size",
         {"input_image": upload("a.png", PNG), "min_size": "100000000000000000000"}),
    # Uploads: masks
    Case("masks of another size", "post", JOBS, 400, "input_masks",
         {"input_image": upload("a.png", PNG),
          "input_masks": upload("m.npy", npy_bytes(np.zeros((3, 3), np.uint8)))}),
    Case("pickled masks", "post", JOBS, 400, "input_masks",
         {"input_image": upload("a.png", PNG),
          "input_masks": upload("m.npy", npy_bytes(np.array([{}], object), allow_pickle=True))}),
    Case("negative masks", "post", JOBS, 400, "input_masks",
         {"input_image": upload("a.png", PNG),
          "input_masks": upload("m.npy", npy_bytes(-np.ones(BLOBS.shape, np.int16)))}),
    Case("fractional masks", "post", JOBS, 400, "input_masks",
         {"input_image": upload("a.png", PNG),
          "input_masks": upload("m.npy", npy_bytes(np.full(BLOBS.shape, 0.5)))}),
    Case("jpeg masks", "post", JOBS, 400, "input_masks",
         {"input_image": upload("a.png", PNG),
          "input_masks": upload("m.jpg", image_bytes(BLOBS, "JPEG"))}),
    Case("rgb masks", "post", JOBS, 400, "input_masks",
         {"input_image": upload("a.png", PNG),
          "input_masks": upload("m.png", png_bytes(np.zeros((*BLOBS.shape, 3), np.uint8)))}),
    Case("empty masks", "post", JOBS, 400, "input_masks",
         {"input_image": upload("a.png", PNG), "input_masks": upload("m.npy", b"")}),
    # Jobs: actions, lists and lookups
    Case("cancel a completed job", "post", JOBS + "{job}/cancel/", 409, "completed"),
    Case("results of a pending job", "get", JOBS + "{pending}/results/", 409, "pending"),
    Case("masks of a pending job", "get", JOBS + "{pending}/download_masks/", 409, "pending"),
    Case("unknown job", "get", JOBS + "00000000-0000-4000-8000-000000000000/status/", 404,
         "detail"),
    Case("not a job id", "get", JOBS + "not-a-uuid/status/", 404, "no endpoint"),
    Case("float limit", "get", JOBS, 400, "limit", query={"limit": "1e20"}),
    Case("huge limit", "get", JOBS, 400, "limit", query={"limit": "100000000000000000000"}),
    Case("huge offset", "get", JOBS, 400, "offset", query={"offset": "100000000000000000000"}),
    Case("negative offset", "get", JOBS, 400, "offset", query={"offset": "-1"}),
    Case("unknown status", "get", JOBS, 400, "status", query={"status": "bogus"}),
    Case("empty status", "get", JOBS, 400, "status", query={"status": ""}),
    Case("shape analysis without job", "get", "/api/v1/metrics/shape_analysis/", 400, "job_id"),
    Case("shape analysis bad job", "get", "/api/v1/metrics/shape_analysis/", 400, "job_id",
         query={"job_id": "1 OR 1=1"}),
    Case("evaluate without truth", "post", JOBS + "{job}/evaluate/", 400, "ground_truth"),
    Case("evaluate wrong shape", "post", JOBS + "{job}/evaluate/", 400, "ground_truth",
         {"ground_truth": upload("t.npy", npy_bytes(np.zeros((5, 5), np.uint8)))}),
    Case("evaluate text", "post", JOBS + "{job}/evaluate/", 400, "ground_truth",
         {"ground_truth": upload("t.png", b"not an image")}),
    Case("put a job", "put", JOBS + "{job}/", 405, "PUT"),
    Case("delete the list", "delete", JOBS, 405, "DELETE"),
    # Depth images
    Case("csv without file", "post", "/upload-csv/", 400, "file"),
    Case("csv underscore digits", "post", "/upload-csv/", 400, "'1_0' is not a number",
         {"file": upload("d.csv", csv_with("1_0"))}),
    Case("csv arabic-indic digits", "post", "/upload-csv/", 400, "is not a number",
         {"file": upload("d.csv", csv_with("١٢"))}),
    Case("csv full-width digits", "post", "/upload-csv/", 400, "is not a number",
         {"file": upload("d.csv", csv_with("２００.5"))}),
    Case("csv full-width depth", "post", "/upload-csv/", 400, "depth value",
         {"file": upload("d.csv", csv_with("９０００.2", column=0))}),
    Case("csv bad header", "post", "/upload-csv/", 400, "header",
         {"file": upload("d.csv", b"depth,a,b\n1,2,3\n")}),
    Case("csv empty", "post", "/upload-csv/", 400, "file", {"file": upload("d.csv", b"")}),
    Case("csv two files", "post", "/upload-csv/", 400, "file",
         {"file": [upload("a.csv", CSV), upload("b.csv", CSV)]}),
    Case("dataset name too long", "post", "/api/v1/depth-datasets/", 400, "name",
         {"name": "n" * 101, "file": upload("d.csv", CSV)}),
    Case("vmin 1e308", "get", FRAME, 400, "vmin", query={"vmin": "1e308"}),
    Case("vmax -1e308", "get", FRAME, 400, "vmax", query={"vmax": "-1e308"}),
    Case("depth 1e308 frame", "get", "/api/v1/depth-datasets/{dataset}/frame.npy", 400,
         "depth_min", query={"depth_min": "1e308"}),
    Case("depth 1e308 seed", "get", "/get-images/1e308/1e308/", 400, "depth_min"),
    Case("depth not a number", "get", "/get-images/abc/1/", 400, "depth_min"),
    Case("depth range upside down", "get", FRAME, 400, "depth_min",
         query={"depth_min": "9100", "depth_max": "9000"}),
    Case("unknown colormap", "get", FRAME, 400, "colormap", query={"colormap": "nope"}),
    Case("bad colors", "get", FRAME, 400, "colors", query={"colors": "zzz,qqq"}),
    # Tiles
    Case("tile level", "get", TILE + "/tiles/9/0/0.png", 400, "detail"),
    Case("tile format", "get", TILE + "/tiles/0/0/0.eps", 404, "fmt"),
    Case("corners level", "get", TILE + "/tiles/9/0/0/corners", 400, "z"),
    Case("corners column", "get", TILE + "/tiles/2/9/0/corners", 400, "x"),
    Case("band 0", "get", TILE + "/info/band", 400, "band", query={"band": "0"}),
    Case("band 999", "get", TILE + "/info/band", 400, "band", query={"band": "999"}),
    Case("style band 7", "get", TILE + "/tiles/0/0/0.png", 400, "band",
         query={"band": "7", "palette": "viridis"}),
    Case("unknown source", "get", TILE + "/data/thumbnail.png", 400, "source",
         query={"source": "nope"}),
    Case("source that cannot read it", "get", TILE + "/data/thumbnail.png", 400, "source",
         query={"source": "tifffile"}),
    Case("projection", "get", TILE + "/data/thumbnail.png", 400, "projection",
         query={"projection": "EPSG:3857"}),
    Case("region outside", "get", TILE + "/data/region.png", 400, "region",
         query={"left": "5000", "right": "6000", "top": "5000", "bottom": "6000"}),
    Case("region fraction outside", "get", TILE + "/data/region.png", 400, "region",
         query={"left": "1.5", "right": "2", "top": "0", "bottom": "1", "units": "fraction"}),
    Case("region too large", "get", TILE + "/data/region.png", 400, "region",
         query={"left": "0", "right": "600", "top": "0", "bottom": "500"},
         settings={"CELLSERVE_MAX_REGION_PIXELS": 10_000}),
    Case("style not json", "get", TILE + "/data/thumbnail.png", 400, "style",
         query={"style": "{oops"}),
    Case("style unknown key", "get", TILE + "/data/thumbnail.png", 400, "style",
         query={"style": json.dumps({"bandd": 1})}),
    Case("unknown palette", "get", TILE + "/data/thumbnail.png", 400, "palette",
         query={"palette": "no-such-map"}),
    Case("pixel not whole", "get", TILE + "/data/pixel", 400, "left",
         query={"left": "1.5", "top": "2"}),
    Case("histogram bins 0", "get", TILE + "/data/histogram", 400, "bins", query={"bins": "0"}),
    # Batches
    Case("batch without files", "post", BATCHES, 400, "at least one image",
         {"model_type": "watershed"}),
    Case("batch of non-images", "post", BATCHES, 400, "b.html",
         {"input_image": [upload("a.txt", b"hello"), upload("b.html", b"<html></html>")]}),
    Case("batch zip of text", "post", BATCHES, 400, "notes.txt",
         {"input_image": upload("x.zip", zip_of({"notes.txt": b"plain text"}))}),
    Case("batch zip traversal names", "post", BATCHES, 400, "passwd",
         {"input_image": upload("x.zip", zip_of({"../../etc/passwd": b"root:x:0:0"}))}),
    Case("batch zip bomb member", "post", BATCHES, 400, "unpacks to more than",
         {"input_image": upload("x.zip", zip_of({"big.png": b"\0" * (3 << 20)}))},
         settings={"CELLSERVE_MAX_UPLOAD_BYTES": 1 << 20}),
    Case("batch not a zip", "post", BATCHES, 400, "not a readable ZIP",
         {"input_image": upload("x.zip", b"PK\x03\x04 and nothing else")}),
    Case("batch too many files", "post", BATCHES, 400, "CELLSERVE_MAX_BATCH_FILES",
         {"input_image": [upload("a.png", PNG), upload("b.png", PNG)]},
         settings={"CELLSERVE_MAX_BATCH_FILES": 1}),
    Case("batch with masks", "post", BATCHES, 400, "input_masks",
         {"input_image": upload("a.png", PNG), "input_masks": upload("m.png", PNG)}),
    Case("batch bad parameter", "post", BATCHES, 400, "diameter",
         {"input_image": upload("a.png", PNG), "diameter": "-5"}),
    Case("batch results of nobody's", "get", BATCHES + "00000000-0000-4000-8000-000000000000/",
         404, "detail"),
    # The job list
    Case("list ordering unknown", "get", JOBS, 400, "ordering",
         query={"ordering": "owner__password"}),
    Case("list created_after garbage", "get", JOBS, 400, "created_after",
         query={"created_after": "last tuesday"}),
    Case("list batch not a uuid", "get", JOBS, 400, "batch", query={"batch": "1 OR 1=1"}),
    # The request itself
    Case("query too long", "get", JOBS, 414, "query", query={"q": "x" * 40_000}),
    Case("headers too large", "get", JOBS, 431, "headers", headers={"HTTP_X_PAD": "x" * 40_000}),
    Case("body too large", "post", JOBS, 413, "body",
         headers={"CONTENT_LENGTH": str(10**12)}),
    Case("unrouted", "get", "/wp-admin/setup.php", 404, "no endpoint"),
    Case("post without slash", "post", "/api/v1/predictions", 404, "trailing slash"),
    Case("bad token", "get", JOBS, 401, "detail", headers={"HTTP_AUTHORIZATION": "Token nope"}),
    Case("media traversal", "get", "/media/../config/settings/base.py", 404, "detail"),
    Case("media unknown", "get", "/media/input_images/0123/x.png", 404, "no such file"),
]  # fmt: skip


def test_the_corpus_is_large_enough():
    assert len(CASES) >= 60
    assert len({case.name for case in CASES}) == len(CASES)


def fingerprint(media_root: Path) -> dict:
    """Everything stored: each row's values, and each media file's digest."""
    rows = {
        model.__name__: sorted(map(repr, model.objects.values_list()))
        for model in (PredictionJob, Batch, WebhookDelivery, DepthDataset, DepthRow, TiledImage)
    }
    files = {
        str(p.relative_to(media_root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(media_root.rglob("*"))
        if p.is_file()
    }
    return {"rows": rows, "files": files}


@pytest.fixture
def stored(user, eager_celery, media_root, prepared_jobs):
    job = completed_job(user, prepared_jobs["large"])
    pending = PredictionJobFactory(owner=user)
    outcome = ingest.upload(user, "default", ContentFile(csv_bytes(200, seed=4), "d.csv"))
    tile_tasks.build_dataset_tiles(str(outcome.dataset.pk))
    return {"job": job.pk, "pending": pending.pk, "dataset": outcome.dataset.pk}


def send(client, case: Case, ids: dict):
    path = case.path.format(**ids)
    data = {
        key: [SimpleUploadedFile(*v) for v in value]
        if isinstance(value, list) and isinstance(value[0], tuple)
        else SimpleUploadedFile(*value)
        if isinstance(value, tuple)
        else value
        for key, value in case.data.items()
    }
    if case.method == "get":
        return client.get(path, case.query, **case.headers)
    return getattr(client, case.method)(path, data, format="multipart", **case.headers)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_a_bad_request_is_a_clear_4xx_and_changes_nothing(
    case, api_client, stored, media_root, settings, django_capture_on_commit_callbacks
):
    for name, value in case.settings.items():
        setattr(settings, name, value)
    # A client's own credentials would replace the case's Authorization header.
    client = APIClient() if "HTTP_AUTHORIZATION" in case.headers else api_client
    before = fingerprint(media_root)
    with django_capture_on_commit_callbacks(execute=True):
        response = send(client, case, stored)
    assert response.status_code == case.status, response.content[:500]
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert isinstance(body, dict)
    assert body
    assert case.names in body or case.names in json.dumps(body, ensure_ascii=False), body
    assert fingerprint(media_root) == before
