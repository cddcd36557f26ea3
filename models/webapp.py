"""The web application: upload a photo, see every face's expression.

Flask serves the page, its assets (no external CDN: the app works offline)
and a JSON API; ``fer-web`` runs it under waitress, a multi-threaded WSGI
server. Uploads are decoded in memory and never written to disk.
"""

import os

from flask import Flask, jsonify, request, send_from_directory

from ..features.faces import ImageError
from ..features.images import ImageTooLarge
from ..parameters import WEB

from .recognizer import Recognizer

ASSETS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "web")


def create_app(recognizer=None, max_upload_mb=WEB.max_upload_mb):
    """The Flask application.

    Parameters
    ----------
    recognizer : Recognizer, optional
        Loaded once and shared by all requests (default: the shipped model);
        its ``max_pixels`` bounds the images accepted (413 above).
    max_upload_mb : float, optional
        Larger uploads are refused with 413.

    Returns
    -------
    flask.Flask
    """
    recognizer = recognizer or Recognizer()
    app = Flask(__name__, static_folder=None)
    app.json.sort_keys = False  # keep the classes in the model's order
    app.config["MAX_CONTENT_LENGTH"] = int(max_upload_mb * 2**20)
    app.config["RECOGNIZER"] = recognizer

    def error(status, message):
        return jsonify({"error": message}), status

    @app.get("/")
    def index():
        return send_from_directory(ASSETS, "index.html")

    @app.get("/static/<path:name>")
    def static_file(name):
        return send_from_directory(ASSETS, name)

    @app.get("/health")
    def health():
        return jsonify({"status": "ok", "classes": recognizer.classes, "feature_set": recognizer.bundle.feature_set,
                        "models": [os.path.basename(os.path.normpath(p)) for p in recognizer.model_paths],
                        "max_upload_mb": max_upload_mb, "max_pixels": recognizer.max_pixels})

    @app.post("/api/predict")
    def predict():
        upload = request.files.get("file")
        if upload is None:
            return error(400, "no file: send the image as multipart form field 'file'")
        data = upload.read()
        try:
            image = recognizer.decode(data, grey=True)  # pixel count checked from the header first
        except ImageTooLarge as e:
            return error(413, f"{upload.filename or 'upload'}: {e}")
        except ImageError as e:
            return error(400, f"{upload.filename or 'upload'}: {e}")
        del data
        faces = recognizer.predict(image)
        if not faces:
            return error(422, "no face found in this image")
        return jsonify({"faces": faces, "width": int(image.size[0]), "height": int(image.size[1])})

    @app.errorhandler(413)
    def too_large(_):
        return error(413, f"file too large: the limit is {max_upload_mb:g} MB")

    @app.errorhandler(404)
    def not_found(_):
        return error(404, "not found")

    @app.errorhandler(405)
    def not_allowed(_):
        return error(405, "method not allowed")

    @app.errorhandler(Exception)
    def internal(e):  # never let a request crash the server
        from werkzeug.exceptions import HTTPException

        if isinstance(e, HTTPException):
            return error(e.code or 500, e.description)
        app.logger.exception("error while handling a request")
        return error(500, f"internal error: {type(e).__name__}")

    return app
