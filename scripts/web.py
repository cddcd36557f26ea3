"""fer-web: a local web page to upload photos and see their faces' expressions."""

import os
import sys

if __package__ in (None, ""):  # run as ``python scripts/web.py``
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from scripts._cli import import_models, parser, run

PROG = "fer-web"


def build_parser():
    p = parser(
        PROG,
        "Serve a web page where you upload a photo and see each face's box, expression and probability bar "
        "chart, and a JSON API: POST /api/predict (multipart field 'file') returns {\"faces\": [...]} with the "
        "same objects as fer-predict --json; GET /health. Binds to localhost unless --host says otherwise.",
        epilog="example: fer-web --port 8000, then open http://127.0.0.1:8000",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    p.add_argument("--port", type=int, default=8000, help="port to listen on")
    p.add_argument("--model", help="model bundle folder (default: the model shipped with the package)")
    p.add_argument("--max-upload-mb", type=float, default=10.0, help="largest accepted upload, in MB")
    p.add_argument("--threads", type=int, default=8, help="requests served at once")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    import_models(PROG)

    def body():
        from waitress import serve

        from models.recognizer import Recognizer
        from models.webapp import create_app

        recognizer = Recognizer(args.model)
        import numpy as np

        recognizer.predict(np.zeros((64, 64), np.uint8))  # load and compile everything before serving
        app = create_app(recognizer, args.max_upload_mb)
        print(f"{PROG}: serving on http://{args.host}:{args.port} (Ctrl-C to stop)", flush=True)
        serve(app, host=args.host, port=args.port, threads=args.threads, _quiet=True)

    from features.faces import ImageError
    from models.bundle import BundleError

    return run(PROG, body, (ImageError, BundleError, OSError))


if __name__ == "__main__":
    sys.exit(main())
