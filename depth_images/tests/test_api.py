import base64
import io

import matplotlib
import numpy as np
import pytest
from PIL import Image

from depth_images import synthetic
from depth_images.models import DatasetStatus, DepthDataset
from depth_images.services import resize
from depth_images.tests.conftest import csv_upload, snapshot

pytestmark = pytest.mark.django_db
URL = "/api/v1/depth-datasets/"


def post_csv(client, data: bytes, name="well-1"):
    return client.post(URL, {"name": name, "file": csv_upload(data)}, format="multipart")


@pytest.fixture
def dataset(api_client, small_csv):
    response = post_csv(api_client, small_csv)
    assert response.status_code == 201, response.content
    return response.json()["dataset"]


def test_upload_creates_a_dataset_with_its_summary(api_client, small_csv):
    response = post_csv(api_client, small_csv)
    assert response.status_code == 201
    body = response.json()
    assert body["ingest"] == {
        "rows_in_file": 50,
        "rows_added": 50,
        "rows_replaced": 0,
        "skipped_empty_rows": 1,
    }
    dataset = body["dataset"]
    assert dataset["status"] == "ready"
    assert dataset["row_count"] == 50
    assert (dataset["depth_min"], dataset["depth_max"], dataset["width"]) == (9000.1, 9005.0, 150)
    assert body["status_url"].endswith(f"{URL}{dataset['id']}/")
    assert api_client.get(URL).json()["results"][0]["name"] == "well-1"


def test_second_upload_replaces_same_depths_and_adds_new_ones(api_client, dataset):
    # 30 rows from 9003.1: 20 overlap the first upload (9003.1 .. 9005.0), 10 are new.
    second = synthetic.csv_bytes(30, seed=7, first_tenths=90031)
    response = post_csv(api_client, second)
    assert response.status_code == 200
    assert response.json()["ingest"]["rows_added"] == 10
    assert response.json()["ingest"]["rows_replaced"] == 20
    detail = api_client.get(f"{URL}{dataset['id']}/").json()
    assert detail["row_count"] == 60
    assert detail["depth_max"] == 9006.0
    frame = api_client.get(f"{URL}{dataset['id']}/frame.npy", {"depth_min": 9003.1})
    expected = resize.resize_rows(synthetic.pixel_rows(30, seed=7).astype(np.float64))
    assert np.array_equal(np.load(io.BytesIO(frame.content)), expected)


def test_seed_upload_uses_the_default_dataset_and_answers_200(api_client, small_csv):
    response = api_client.post("/upload-csv/", {"file": csv_upload(small_csv)}, format="multipart")
    assert response.status_code == 200, response.content
    assert response.json()["dataset"]["name"] == "default"
    assert "ingested 50 rows" in response.json()["message"]


def test_seed_get_images_returns_one_png_per_depth(api_client, small_csv):
    api_client.post("/upload-csv/", {"file": csv_upload(small_csv)}, format="multipart")
    response = api_client.get("/get-images/9000.1/9000.5/?colormap=viridis")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["depths"] == [9000.1, 9000.2, 9000.3, 9000.4, 9000.5]
    assert len(body["images"]) == 5
    image = np.asarray(Image.open(io.BytesIO(base64.b64decode(body["images"][0]))))
    assert image.shape == (1, 150, 3)
    row = resize.resize_rows(synthetic.pixel_rows(1).astype(np.float64))[0]
    viridis = matplotlib.colormaps["viridis"]
    assert np.array_equal(image[0], viridis(row / 255.0, bytes=True)[:, :3])


def test_seed_get_images_404_for_an_empty_range(api_client, small_csv):
    api_client.post("/upload-csv/", {"file": csv_upload(small_csv)}, format="multipart")
    response = api_client.get("/get-images/100/200/")
    assert response.status_code == 404
    assert "no rows in this depth range" in response.json()["detail"]


@pytest.mark.parametrize(
    ("path", "field", "message"),
    [
        ("/get-images/9005/9000/", "depth_min", "depth_min (9005) is above depth_max (9000)"),
        ("/get-images/abc/9000/", "depth_min", "A valid number is required."),
        ("/get-images/nan/9000/", "depth_min", "A valid number is required."),
        ("/get-images/9000/9001/?colormap=nope", "colormap", "unknown colormap 'nope'"),
        ("/get-images/9000/9001/?colors=%23000000", "colors", "at least 2 colors"),
        ("/get-images/9000/9001/?colors=000000,zzz", "colors", "'zzz' is not a color"),
        ("/get-images/9000/9001/?vmin=200&vmax=100", "vmin", "vmin (200) must be below vmax"),
    ],
)
def test_bad_range_and_colormap_parameters_are_400s(api_client, small_csv, path, field, message):
    api_client.post("/upload-csv/", {"file": csv_upload(small_csv)}, format="multipart")
    response = api_client.get(path)
    assert response.status_code == 400, response.content
    assert message in str(response.json()[field])


def test_frame_png_stacks_rows_through_the_colormap(api_client, dataset):
    response = api_client.get(
        f"{URL}{dataset['id']}/frame.png",
        {"depth_min": 9000.1, "depth_max": 9001.0, "colors": "000000,8b4513,ffffff"},
    )
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "image/png"
    assert response["X-Rows"] == "10"
    image = np.asarray(Image.open(io.BytesIO(response.content)))
    assert image.shape == (10, 150, 3)
    rows = resize.resize_rows(synthetic.pixel_rows(10).astype(np.float64))
    darkest = np.unravel_index(np.argmin(rows), rows.shape)
    assert image[darkest].sum() < image[np.unravel_index(np.argmax(rows), rows.shape)].sum()


def test_frame_npy_is_the_raw_rows(api_client, dataset, load_npy):
    response = api_client.get(f"{URL}{dataset['id']}/frame.npy")
    rows = load_npy(response.content)
    assert rows.dtype == np.uint8
    assert rows.shape == (50, 150)
    assert response["X-Depth-Min"] == "9000.1"
    assert response["X-Depth-Max"] == "9005"


def test_frame_contrast_clips_outside_vmin_vmax(api_client, dataset):
    response = api_client.get(
        f"{URL}{dataset['id']}/frame.png", {"colormap": "gray", "vmin": 100, "vmax": 101}
    )
    image = np.asarray(Image.open(io.BytesIO(response.content)))
    assert set(np.unique(image)) <= {0, 255}


def test_frame_404_outside_the_data_and_400_above_the_row_limit(api_client, dataset, settings):
    assert (
        api_client.get(f"{URL}{dataset['id']}/frame.png?depth_min=1&depth_max=2").status_code == 404
    )
    settings.CELLSERVE_DEPTH_MAX_FRAME_ROWS = 10
    response = api_client.get(f"{URL}{dataset['id']}/frame.png")
    assert response.status_code == 400
    assert "more than 10 rows" in response.json()["detail"]


def test_colormap_list(api_client):
    body = api_client.get("/api/v1/depth-colormaps/").json()
    assert body["default"] == "viridis"
    assert {"viridis", "gray", "copper", "YlOrBr_r"} <= set(body["colormaps"])


def test_others_datasets_are_404_and_anonymous_401(api_client, other_client, client, dataset):
    detail = f"{URL}{dataset['id']}/"
    assert other_client.get(detail).status_code == 404
    assert other_client.get(f"{detail}frame.png").status_code == 404
    assert other_client.delete(detail).status_code == 404
    assert other_client.get("/get-images/9000/9010/?dataset=well-1").status_code == 404
    assert other_client.get(URL).json()["count"] == 0
    assert client.get(URL).status_code == 401
    assert client.get("/get-images/9000/9010/").status_code == 401
    assert client.post("/upload-csv/", {}).status_code == 401


def test_delete_removes_the_dataset_and_its_rows(api_client, dataset, user):
    assert api_client.delete(f"{URL}{dataset['id']}/").status_code == 204
    assert snapshot(user) == {}


def test_upload_into_a_busy_dataset_is_409(api_client, dataset, small_csv):
    DepthDataset.objects.filter(pk=dataset["id"]).update(status=DatasetStatus.PENDING)
    response = post_csv(api_client, small_csv)
    assert response.status_code == 409
    assert "still being ingested" in response.json()["detail"]


def _lines(rows=50) -> list[str]:
    return synthetic.csv_bytes(rows).decode().split("\n")


def _replace_line(number: int, text: str) -> bytes:
    lines = _lines()
    lines[number - 1] = text
    return "\n".join(lines).encode()


BAD_UPLOADS = [
    (b"", "the file is empty"),
    (_lines()[0].encode() + b"\n", "the file has a header but no data rows"),
    (
        b"depth,col1,col2\n9000.1,1,2\n",
        "line 1: the header must be depth,col1..col200 (201 columns); found 3 columns",
    ),
    (_replace_line(30, "9002.9" + ",1.0" * 199), "line 30: expected 201 values"),
    (_replace_line(30, "9002.9" + ",1.0" * 201), "line 30: expected 201 values"),
    (_replace_line(30, "9002.9,1.0,oops" + ",1.0" * 198), "line 30: col2 value 'oops' is not a"),
    (_replace_line(30, "nan" + ",1.0" * 200), "line 30: depth is NaN"),
    (_replace_line(30, "9002.9" + ",300.0" * 200), "line 30: col1 value 300.0 is outside 0-255"),
    (_replace_line(30, "9000.1" + ",1.0" * 200), "line 30: depth 9000.1 repeats the depth of line"),
    (_replace_line(30, ""), "line 30: empty row; only empty rows at the end of the file"),
]


@pytest.mark.parametrize(("data", "message"), BAD_UPLOADS, ids=[m for _, m in BAD_UPLOADS])
@pytest.mark.parametrize("path", [URL, "/upload-csv/"])
def test_bad_uploads_are_400_naming_the_problem_and_change_nothing(
    api_client, user, data, message, path
):
    good = synthetic.csv_bytes(40, seed=3, first_tenths=89990)
    for name in ("well-1", "default"):
        assert post_csv(api_client, good, name=name).status_code == 201
    before = snapshot(user)
    response = api_client.post(
        path, {"name": "well-1", "file": csv_upload(data)}, format="multipart"
    )
    assert response.status_code == 400, response.content
    assert response.json()["file"][0].startswith(message)
    assert snapshot(user) == before


def test_a_refused_first_upload_creates_no_dataset(api_client, user):
    response = post_csv(api_client, _replace_line(30, "nan" + ",1.0" * 200), name="new")
    assert response.status_code == 400
    assert snapshot(user) == {}


def test_bom_crlf_and_trailing_empty_row_are_accepted(api_client):
    data = b"\xef\xbb\xbf" + synthetic.csv_bytes(20, newline="\r\n")
    response = post_csv(api_client, data)
    assert response.status_code == 201, response.content
    assert response.json()["ingest"]["rows_in_file"] == 20
    assert response.json()["ingest"]["skipped_empty_rows"] == 1


def test_missing_file_or_name_is_400(api_client, small_csv):
    assert "file" in api_client.post(URL, {"name": "x"}, format="multipart").json()
    response = api_client.post(URL, {"file": csv_upload(small_csv)}, format="multipart")
    assert "name" in response.json()
