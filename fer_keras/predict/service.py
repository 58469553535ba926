"""The HTTP service: ``GET /health``, ``POST /predict``, the one-page demo at ``GET /`` (FastAPI on uvicorn)."""

from __future__ import annotations

import json
import os
from importlib import resources
from typing import Annotated, Any

from fastapi import FastAPI, File, HTTPException, UploadFile
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from fer_keras.predict.images import BadImageError
from fer_keras.predict.predictor import Predictor

DEFAULT_MAX_UPLOAD_MB = 10.0
MULTIPART_ALLOWANCE = 64 * 1024
"""Bytes a multipart body may carry beyond the file itself (boundaries, part headers)."""
NO_FACE_MESSAGE = (
    "No face found in the image. The detector looks for faces at least {min_size} pixels wide: try a sharper, "
    "brighter photo with the face turned to the camera."
)


class Face(BaseModel):
    """One face: its box in image pixels, the predicted class, its probability and all probabilities."""

    box: list[int] = Field(description="[x, y, width, height] in pixels of the (upright) image")
    landmarks: dict[str, list[float]] | None = Field(
        default=None, description="right_eye, left_eye, nose, mouth_right, mouth_left as [x, y] (null: Haar)"
    )
    score: float | None = Field(default=None, description="the detector's confidence (null: Haar)")
    emotion: str
    confidence: float
    probabilities: dict[str, float]


class Prediction(BaseModel):
    """``POST /predict``'s answer: every face, largest first; the top-level fields are the largest face's."""

    emotion: str | None = Field(description="the largest face's emotion (null when no face is found)")
    confidence: float | None
    faces: list[Face]
    width: int = Field(description="image width in pixels, after EXIF rotation")
    height: int
    message: str | None = Field(default=None, description="only when no face is found")


class Health(BaseModel):
    """``GET /health``: the model is loaded and the service answers."""

    status: str
    model: str
    classes: list[str]
    input_shape: list[int]
    max_upload_bytes: int
    detector: str = Field(description="the face detector: yunet or haar")
    runtime: str = Field(description="what runs the model: onnx, litert or keras")


def _mb(num_bytes: int) -> str:
    return f"{num_bytes / 2**20:g} MB"


class UploadLimit:
    """ASGI middleware answering 413 to a ``POST`` body over ``max_bytes`` before it is parsed.

    A declared ``Content-Length`` over the limit is refused at once; a body without one is counted
    while it arrives, and the application's answer is replaced by the 413 once it passes the limit.
    """

    def __init__(self, app: Any, max_bytes: int, user_limit: int) -> None:
        self.app, self.max_bytes, self.user_limit = app, max_bytes, user_limit

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send, int(declared))
            return
        received, refused, started = 0, False, False

        async def counted_receive() -> dict:
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    refused = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: dict) -> None:
            nonlocal started
            if not refused:
                started = True
                await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except Exception:
            if not refused:
                raise
        if refused and not started:
            await self._refuse(send, received)

    async def _refuse(self, send: Any, size: int) -> None:
        body = json.dumps({"detail": _too_large(size, self.user_limit)}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _too_large(size: int, limit: int) -> str:
    return (
        f"The upload ({size} bytes or more) is over the limit of {_mb(limit)}. Send a smaller image, "
        "or start the server with a larger --max-upload-mb."
    )


def create_app(predictor: Predictor, *, max_upload_bytes: int = int(DEFAULT_MAX_UPLOAD_MB * 2**20)) -> FastAPI:
    """The FastAPI application serving ``predictor`` (already loaded: requests never reload it)."""
    app = FastAPI(
        title="fer_keras facial-expression service",
        description="Finds the faces in a photo and predicts each one's expression with a trained Keras model.",
        version="1",
    )
    page = resources.files("fer_keras.predict").joinpath("page.html").read_text(encoding="utf-8")
    info = Health(
        status="ok",
        model=os.path.basename(predictor.name),
        classes=predictor.class_names,
        input_shape=[*predictor.input_size, predictor.channels],
        max_upload_bytes=max_upload_bytes,
        detector=predictor.detector.name,
        runtime=predictor.runtime.name,
    )

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> str:
        """The one-page demo: choose or drop a photo, see boxes, labels and probabilities."""
        return page

    @app.get("/health")
    def health() -> Health:
        """The service is up with its model loaded: model file name, classes, input shape."""
        return info

    @app.post(
        "/predict",
        response_model_exclude_unset=True,
        responses={
            400: {"description": "not an image, or a truncated one"},
            413: {"description": "the upload is over the size limit"},
        },
    )
    def predict(
        file: Annotated[UploadFile, File(description="an image file: PNG, JPEG, BMP, GIF, TIFF or WebP")],
    ) -> Prediction:
        """Faces in the uploaded image, largest first, each with ``box`` [x, y, w, h], ``emotion``,
        ``confidence`` and ``probabilities``; ``emotion`` / ``confidence`` at the top level are the largest
        face's (null, with a ``message``, when no face is found)."""
        data = file.file.read(max_upload_bytes + 1)
        if len(data) > max_upload_bytes:
            raise HTTPException(status_code=413, detail=_too_large(len(data), max_upload_bytes))
        name = f"the upload {file.filename!r}" if file.filename else "the upload"
        try:
            img, faces = predictor.analyse(data, name=name)
        except BadImageError as err:
            raise HTTPException(status_code=400, detail=str(err)) from err
        top = faces[0] if faces else {}
        extra = {} if faces else {"message": NO_FACE_MESSAGE.format(min_size=predictor.detector.min_size)}
        return Prediction(
            emotion=top.get("emotion"),
            confidence=top.get("confidence"),
            faces=[Face(**face) for face in faces],
            width=img.width,
            height=img.height,
            **extra,
        )

    app.add_middleware(UploadLimit, max_bytes=max_upload_bytes + MULTIPART_ALLOWANCE, user_limit=max_upload_bytes)
    return app


def run_server(
    model_path: str | os.PathLike,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB,
    detector: Any = None,
    runtime: str = "auto",
    align: bool = True,
    log_level: str = "info",
) -> None:
    """Load the model at ``model_path`` once (a bad file raises ``DataError`` before anything listens), then serve."""
    import uvicorn

    if max_upload_mb <= 0:
        raise ValueError(f"--max-upload-mb must be positive, got {max_upload_mb}")
    predictor = Predictor.from_file(model_path, runtime=runtime, detector=detector, align=align)
    predictor.warm_up()
    app = create_app(predictor, max_upload_bytes=int(max_upload_mb * 2**20))
    uvicorn.run(app, host=host, port=port, log_level=log_level)
