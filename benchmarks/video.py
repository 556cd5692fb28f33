"""Rollout videos: OpenCV text overlays and H.264 mp4 files written with imageio-ffmpeg."""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType
from typing import Any

import cv2
import imageio.v2 as imageio
import imageio_ffmpeg
import numpy as np

MACRO_BLOCK_SIZE = 16
"""Frame sides are padded to a multiple of this so the encoder never has to resize."""

_FONT = cv2.FONT_HERSHEY_SIMPLEX
_MIN_FONT_SCALE = 0.25
_TEXT_COLOR = (255, 255, 255)
_BANNER_COLOR = (200, 20, 20)  # RGB red
_STRIP_ALPHA = 0.6  # how dark the strip behind the text lines is

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi")
"""Extensions (any case) ``Mp4Writer`` writes: containers that hold H.264 with its frame rate. FFmpeg
refuses others (.gif, .webm, none) only at the first frame, so the writer checks up front."""


def _check_frame(frame: Any) -> np.ndarray:
    """Return ``frame`` as an array, or raise ValueError if it is not uint8 RGB of shape (H, W, 3)."""
    array = np.asarray(frame)
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(
            f"expected a uint8 RGB frame of shape (H, W, 3), got dtype {array.dtype} and shape {array.shape}"
        )
    return array


def _font_scale(width: int, texts: list[str], available: int, thickness: int) -> float:
    """One font scale for all ``texts``: proportional to the frame width, shrunk so the longest fits."""
    scale = min(max(width / 1280.0, 0.3), 1.2)
    widest = max((cv2.getTextSize(t, _FONT, scale, thickness)[0][0] for t in texts), default=0)
    if widest > available:
        scale *= available / widest
    return max(scale, _MIN_FONT_SCALE)


def annotate_frame(frame: np.ndarray, lines: list[str], banner: str | None = None) -> np.ndarray:
    """Return a copy of ``frame`` with ``lines`` drawn top-left and an optional red ``banner`` at the bottom.

    The text sits on a dark translucent strip; the font scales with the frame width, so frames as small
    as 128x128 stay readable. ``frame`` must be uint8 RGB of shape (H, W, 3).
    """
    out = np.array(_check_frame(frame), copy=True, order="C")
    height, width = out.shape[:2]
    pad = max(2, width // 100)
    thickness = 1 if width < 800 else 2
    texts = [line for line in lines if line]
    scale = _font_scale(width, texts + ([banner] if banner else []), width - 2 * pad, thickness)
    (_, text_h), baseline = cv2.getTextSize("Ag", _FONT, scale, thickness)
    line_h = text_h + baseline + pad

    if texts:
        strip_w = max(cv2.getTextSize(t, _FONT, scale, thickness)[0][0] for t in texts) + 2 * pad
        strip_h = min(height, len(texts) * line_h + pad)
        strip_w = min(width, strip_w)
        region = out[:strip_h, :strip_w]
        region[:] = (region.astype(np.float32) * (1.0 - _STRIP_ALPHA)).astype(np.uint8)
        for i, text in enumerate(texts):
            y = pad + (i + 1) * line_h - baseline - pad // 2
            cv2.putText(out, text, (pad, y), _FONT, scale, _TEXT_COLOR, thickness, cv2.LINE_AA)

    if banner:
        banner_h = min(height, line_h + pad)
        out[height - banner_h :, :] = _BANNER_COLOR
        y = height - (banner_h - text_h) // 2
        cv2.putText(out, banner, (pad, y), _FONT, scale, _TEXT_COLOR, thickness, cv2.LINE_AA)
    return out


VIEW_ORDER = ("third_person", "egocentric", "top_down")
"""Left-to-right order of the review views (the keys of ``env.unwrapped.render_views``)."""


def compose_views(views: dict[str, np.ndarray], order: tuple[str, ...] = VIEW_ORDER) -> np.ndarray:
    """Put the named views side by side, each labelled at its top-left, into one uint8 RGB frame.

    Views of different heights are padded with black at the bottom. Every name in ``order`` must be
    in ``views``.
    """
    missing = [name for name in order if name not in views]
    if missing:
        raise ValueError(f"views {missing} are missing; got {sorted(views)}")
    frames = [_check_frame(views[name]) for name in order]
    height = max(f.shape[0] for f in frames)
    panels = []
    for name, frame in zip(order, frames, strict=True):
        panel = np.zeros((height, frame.shape[1], 3), dtype=np.uint8)
        panel[: frame.shape[0]] = frame
        label = name.replace("_", "-")
        scale = max(_MIN_FONT_SCALE, min(0.5, frame.shape[1] / 400.0))
        (text_w, text_h), baseline = cv2.getTextSize(label, _FONT, scale, 1)
        # White text on a dark box stays legible on any background.
        panel[: text_h + baseline + 4, : text_w + 6] //= 3
        cv2.putText(panel, label, (3, text_h + 2), _FONT, scale, _TEXT_COLOR, 1, cv2.LINE_AA)
        panels.append(panel)
    return np.concatenate(panels, axis=1)


def add_caption_band(frame: np.ndarray, lines: int) -> np.ndarray:
    """Return ``frame`` below a black band tall enough for ``lines`` overlay lines of ``annotate_frame``.

    The overlay text then sits on the band instead of covering the views.
    """
    array = _check_frame(frame)
    width = array.shape[1]
    pad = max(2, width // 100)
    thickness = 1 if width < 800 else 2
    scale = min(max(width / 1280.0, 0.3), 1.2)
    (_, text_h), baseline = cv2.getTextSize("Ag", _FONT, scale, thickness)
    band = np.zeros((lines * (text_h + baseline + pad) + 2 * pad, width, 3), dtype=np.uint8)
    return np.concatenate([band, array], axis=0)


class Mp4Writer:
    """Write uint8 RGB frames to an H.264 (yuv420p) mp4 file (or .mov, .mkv, .avi: ``VIDEO_SUFFIXES``).

    Frames are padded with black on the bottom and right to a multiple of 16 pixels, so the encoder
    keeps every pixel. All frames must share one shape. The file is opened on the first frame; closing
    a writer that got no frames leaves no file behind.

    Use as a context manager::

        with Mp4Writer("videos/episode.mp4", fps=30) as writer:
            writer.append(frame)
    """

    def __init__(self, path: str | os.PathLike[str], fps: int = 30, *, overwrite: bool = False) -> None:
        self.path = Path(path)
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        if self.path.is_dir():
            raise IsADirectoryError(f"{self.path} is a directory; give a file path such as {self.path}/a.mp4")
        if self.path.suffix.lower() not in VIDEO_SUFFIXES:
            suffixes = ", ".join(VIDEO_SUFFIXES)
            raise ValueError(f"cannot write H.264 video to {self.path}: end the name in one of {suffixes}")
        if self.path.exists() and not overwrite:
            raise FileExistsError(f"{self.path} already exists; pass overwrite=True to replace it")
        self.fps = int(fps)
        self._writer: Any = None
        self._frame_shape: tuple[int, ...] | None = None
        self._padding: tuple[int, int] = (0, 0)
        self._frames_written = 0
        self._closed = False

    @property
    def frames_written(self) -> int:
        """Number of frames appended so far."""
        return self._frames_written

    @property
    def output_size(self) -> tuple[int, int] | None:
        """(width, height) of the encoded video after padding, or None before the first frame."""
        if self._frame_shape is None:
            return None
        return (self._frame_shape[1] + self._padding[1], self._frame_shape[0] + self._padding[0])

    def append(self, frame: np.ndarray) -> None:
        """Encode one uint8 RGB frame of shape (H, W, 3)."""
        if self._closed:
            raise ValueError(f"cannot append to {self.path}: the writer is closed")
        array = _check_frame(frame)
        if self._frame_shape is None:
            self._open(array.shape)
        elif array.shape != self._frame_shape:
            raise ValueError(
                f"all frames of {self.path} must share one shape: first was {self._frame_shape}, "
                f"this one is {array.shape}"
            )
        pad_h, pad_w = self._padding
        if pad_h or pad_w:
            array = np.pad(array, ((0, pad_h), (0, pad_w), (0, 0)))
        self._writer.append_data(array)
        self._frames_written += 1

    def _open(self, shape: tuple[int, ...]) -> None:
        height, width = shape[:2]
        self._frame_shape = tuple(shape)
        self._padding = (-height % MACRO_BLOCK_SIZE, -width % MACRO_BLOCK_SIZE)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = imageio.get_writer(
            self.path,
            format="FFMPEG",
            mode="I",
            fps=self.fps,
            codec="libx264",
            pixelformat="yuv420p",
            macro_block_size=MACRO_BLOCK_SIZE,
            ffmpeg_log_level="error",
        )

    def close(self) -> None:
        """Finish the file. Safe to call more than once."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
            # FFmpeg that could not open the file exits with the frames still in the pipe: a short
            # video would otherwise count as written.
            if not self.path.is_file() or self.path.stat().st_size == 0:
                self._closed = True
                raise OSError(f"FFmpeg wrote no video to {self.path}; check that the path can be written")
        self._closed = True

    def __enter__(self) -> Mp4Writer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def probe_mp4(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read an mp4's stream facts with imageio-ffmpeg.

    Returns a dict with ``codec`` (e.g. ``"h264"``), ``pix_fmt``, ``frames``, ``fps``, ``width``,
    ``height`` and ``duration_s``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no video at {path}")
    reader = imageio_ffmpeg.read_frames(str(path))
    try:
        meta = next(reader)
    finally:
        reader.close()
    frames, seconds = imageio_ffmpeg.count_frames_and_secs(str(path))
    codec = str(meta.get("codec", "")).split()[0] if meta.get("codec") else ""
    width, height = meta["size"]
    return {
        "codec": codec,
        "pix_fmt": str(meta.get("pix_fmt", "")).split("(")[0].strip(),
        "frames": int(frames),
        "fps": float(meta.get("fps", 0.0)),
        "width": int(width),
        "height": int(height),
        "duration_s": float(seconds),
    }
