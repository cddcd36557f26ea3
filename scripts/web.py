"""fer-web: a local web page to upload photos and see their faces' expressions."""

import sys

if __package__ in (None, ""):  # run as ``python scripts/web.py``: run the installed package's copy
    import runpy

    runpy.run_module("fer_toolkit.scripts.web", run_name="__main__")
    sys.exit(0)

from ..parameters import VIDEO, WEB

from ._cli import (add_coarse_flag, add_detector_flags, add_model_flag, add_photo_search_flags, add_reframe_flag,
                   check_coarse_side, check_proposer, load_keras, parser, run)

PROG = "fer-web"


class WebError(Exception):
    """The server cannot start (one line)."""


class _LoadedLater:
    """The WSGI application the port is bound with before the model loads; ``app`` is set once it has."""

    app = None

    def __call__(self, environ, start_response):
        return self.app(environ, start_response)


def build_parser():
    p = parser(
        PROG,
        "Serve a web page where you upload a photo and see each face's box, expression and probability bar "
        "chart, and a JSON API: POST /api/predict (multipart field 'file') returns {\"faces\": [...]} with the "
        "same objects as fer-predict --json; GET /health. Binds to localhost unless --host says otherwise.",
        epilog="example: fer-web --port 8000, then open http://127.0.0.1:8000",
    )
    p.add_argument("--host", default=WEB.host, help="address to listen on (0.0.0.0: every interface)")
    p.add_argument("--port", type=int, default=WEB.port, help="port to listen on")
    add_model_flag(p)
    p.add_argument("--max-upload-mb", type=float, default=WEB.max_upload_mb,
                   help="largest accepted upload, in MB (larger: 413)")
    add_detector_flags(p, VIDEO.photo_detector)
    add_reframe_flag(p)
    add_photo_search_flags(p)
    add_coarse_flag(p, 0, "photo")
    p.add_argument("--max-pixels", type=int, default=VIDEO.max_pixels,
                   help="largest accepted image in pixels, checked from the file's header before decoding "
                        "(larger: 413)")
    p.add_argument("--threads", type=int, default=WEB.threads, help="requests worked on at once")
    p.add_argument("--connection-limit", type=int, default=WEB.connection_limit,
                   help="connections held open at once; more wait to be accepted")
    p.add_argument("--channel-timeout", type=int, default=WEB.channel_timeout,
                   help="seconds after which an idle connection is closed (slow clients cannot hold one forever)")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    check_coarse_side(PROG, args.coarse_side)
    check_proposer(PROG, args)

    def body():
        from ..models.bundle import read_meta

        for path in args.model or ():  # a bad model answers before TensorFlow loads
            read_meta(path)
        from waitress import create_server

        # The port is bound first: a port in use is one line at once, not after the model's seconds of
        # loading. Requests that arrive meanwhile wait in the socket's queue until the server runs.
        application = _LoadedLater()
        try:
            server = create_server(application, host=args.host, port=args.port, threads=args.threads,
                                   connection_limit=args.connection_limit, channel_timeout=args.channel_timeout)
        except OSError as e:
            raise WebError(f"cannot listen on {args.host}:{args.port}: {e.strerror or e}") from None
        try:
            load_keras(PROG)
            import numpy as np

            from ..models.recognizer import Recognizer
            from ..models.webapp import create_app

            recognizer = Recognizer(args.model, detector=args.detector, upsample=args.upsample,
                                    max_side=args.detect_max_side, max_pixels=args.max_pixels,
                                    coarse_side=args.coarse_side, proposer=args.proposer, reframe=args.reframe,
                                    group_look=args.group_look, last_look=args.last_look, tile=args.tile,
                                    turns=args.turns)
            recognizer.predict(np.zeros((64, 64), np.uint8))  # load and compile everything before serving
            if recognizer.group_look:
                from ..models.mtcnn import mtcnn

                mtcnn(VIDEO.group_look_threads).warm_up()  # the look's MTCNN: converted to LiteRT now
            application.app = create_app(recognizer, args.max_upload_mb)
            print(f"{PROG}: serving on http://{args.host}:{args.port} (Ctrl-C to stop)", flush=True)
            server.run()
        finally:
            server.close()

    from ..features.faces import ImageError
    from ..models.bundle import BundleError

    return run(PROG, body, (ImageError, BundleError, WebError))


if __name__ == "__main__":
    sys.exit(main())
