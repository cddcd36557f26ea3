"""The web application: API with the test client (real photos, bad input,
concurrency) and an end-to-end upload in a real headless browser."""

import io
import os
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import ROOT, SAMPLES, free_port

pytestmark = pytest.mark.skipif(not os.path.isdir(SAMPLES), reason=f"sample images not found in {SAMPLES}")
ARTIFACTS = os.path.join(ROOT, "test-artifacts")


def sample(name):
    return os.path.join(SAMPLES, name)


@pytest.fixture(scope="module")
def recognizer():
    from fer_toolkit.models.recognizer import Recognizer

    return Recognizer()


@pytest.fixture(scope="module")
def client(recognizer):
    from fer_toolkit.models.webapp import create_app

    return create_app(recognizer, max_upload_mb=2).test_client()


def upload(client, path=None, data=None, name="x.jpg"):
    payload = open(path, "rb").read() if path else data
    return client.post("/api/predict", data={"file": (io.BytesIO(payload), name)}, content_type="multipart/form-data")


def test_page_assets_and_health(client):
    page = client.get("/")
    assert page.status_code == 200 and b"/static/app.js" in page.data
    assert b"http://" not in page.data and b"https://" not in page.data  # no CDN: works offline
    for asset in ("app.js", "style.css"):
        r = client.get(f"/static/{asset}")
        assert r.status_code == 200 and b"http" not in r.data
    health = client.get("/health").get_json()
    assert health["status"] == "ok" and health["classes"][-1] == "Contempt" and len(health["classes"]) == 8  # ferplus


def test_predict_matches_the_python_api(client, recognizer):
    r = upload(client, sample("two_people.jpg"))
    assert r.status_code == 200
    faces = r.get_json()["faces"]
    assert len(faces) == 2
    assert set(faces[0]) == {"box", "label", "confidence", "probabilities", "landmarks"}
    direct = recognizer.predict(sample("two_people.jpg"))
    assert [f["box"] for f in faces] == [f["box"] for f in direct]
    assert [f["label"] for f in faces] == [f["label"] for f in direct]
    r = upload(client, sample("lin-manuel-miranda.png"), name="x.png")
    assert r.status_code == 200 and len(r.get_json()["faces"]) == 1


def test_bad_uploads_are_4xx_json(client):
    cases = {
        "text": (upload(client, data=b"hello, not an image", name="a.jpg"), 400, "not an image"),
        "empty": (upload(client, data=b"", name="a.jpg"), 400, "empty"),
        "truncated": (upload(client, data=open(sample("obama.jpg"), "rb").read()[:5000]), 400, "unreadable"),
        "no face": (upload(client, sample("dogs.jpg")), 422, "no face"),
        "cartoon": (upload(client, sample("no-faces.jpg")), 422, "no face"),
        "too large": (upload(client, data=b"\xff" * (3 * 2**20)), 413, "too large"),
        "no field": (client.post("/api/predict", data={}, content_type="multipart/form-data"), 400, "no file"),
    }
    for name, (r, status, text) in cases.items():
        assert r.status_code == status, name
        assert text in r.get_json()["error"], (name, r.get_json())
    assert client.get("/health").status_code == 200  # still serving


def test_fifty_concurrent_requests(client, recognizer):
    expected = {name: [f["label"] for f in recognizer.predict(sample(name))]
                for name in ("obama.jpg", "two_people.jpg")}
    names = ["obama.jpg", "two_people.jpg"] * 25

    def one(name):
        r = upload(client, sample(name))
        return name, r.status_code, [f["label"] for f in r.get_json()["faces"]]

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(one, names))
    assert len(results) == 50
    for name, status, labels in results:
        assert status == 200 and labels == expected[name]


@pytest.mark.skipif(not (shutil.which("chromium") and shutil.which("chromedriver")),
                    reason="needs Debian's chromium and chromium-driver (.ci/run installs them)")
def test_browser_upload_shows_two_faces_with_bar_charts(recognizer):
    pytest.importorskip("selenium")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    from waitress.server import create_server

    from fer_toolkit.models.webapp import create_app

    port = free_port()
    server = create_server(create_app(recognizer), host="127.0.0.1", port=port, threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1200,1400"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    try:
        driver.get(f"http://127.0.0.1:{port}/")
        driver.find_element(By.ID, "file").send_keys(sample("two_people.jpg"))
        driver.find_element(By.ID, "submit").click()
        WebDriverWait(driver, 60).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".face-card")) == 2)
        cards = driver.find_elements(By.CSS_SELECTOR, ".face-card")
        for card in cards:
            assert len(card.find_elements(By.CSS_SELECTOR, ".bar-row")) == 8  # a bar a class of the default model
            assert card.find_element(By.TAG_NAME, "h2").text.startswith("Face ")
        assert "2 faces found" in driver.find_element(By.ID, "message").text
        os.makedirs(ARTIFACTS, exist_ok=True)
        driver.save_screenshot(os.path.join(ARTIFACTS, "web-two-people.png"))
        # A bad upload shows a clear message on the page.
        driver.find_element(By.ID, "file").send_keys(sample("dogs.jpg"))
        driver.find_element(By.ID, "submit").click()
        WebDriverWait(driver, 60).until(lambda d: "no face" in d.find_element(By.ID, "message").text)
    finally:
        driver.quit()
        server.close()
