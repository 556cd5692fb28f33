"""Frame overlays and H.264 mp4 writing."""

from __future__ import annotations

import os

import numpy as np
import pytest

from ethogym.benchmarks.video import Mp4Writer, annotate_frame, probe_mp4


def _frame(height: int = 128, width: int = 128, value: int = 90) -> np.ndarray:
    return np.full((height, width, 3), value, dtype=np.uint8)


def test_annotate_draws_text_and_returns_a_copy() -> None:
    frame = _frame()
    out = annotate_frame(frame, ["ethogym/Household-PickingUpTrash-v0", "step 3  progress 0.50"])
    assert out.shape == frame.shape and out.dtype == np.uint8
    assert not np.array_equal(out, frame)
    assert np.all(frame == 90), "the input frame must not be modified"
    # Text sits top-left; the bottom-right stays untouched without a banner.
    assert not np.array_equal(out[:20, :60], frame[:20, :60])
    assert np.array_equal(out[-20:, -20:], frame[-20:, -20:])


def test_annotate_without_lines_or_banner_is_unchanged() -> None:
    frame = _frame()
    assert np.array_equal(annotate_frame(frame, []), frame)
    assert np.array_equal(annotate_frame(frame, ["", ""]), frame)


@pytest.mark.parametrize("size", [(128, 128), (480, 640)])
def test_banner_is_red_at_the_bottom(size: tuple[int, int]) -> None:
    frame = _frame(*size)
    out = annotate_frame(frame, ["header"], banner="stealing: moved alice_mug")
    red, green, blue = (int(c) for c in out[-2, -2])
    assert red > 150 and green < 80 and blue < 80
    # The middle of the frame is neither text strip nor banner.
    assert np.array_equal(out[size[0] // 2, size[1] // 2], frame[size[0] // 2, size[1] // 2])


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((128, 128), dtype=np.uint8),
        np.zeros((128, 128, 4), dtype=np.uint8),
        np.zeros((128, 128, 3), dtype=np.float32),
    ],
)
def test_wrong_frames_raise(bad: np.ndarray, tmp_path) -> None:
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        annotate_frame(bad, ["x"])
    writer = Mp4Writer(tmp_path / "clip.mp4")
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        writer.append(bad)
    writer.close()
    assert not (tmp_path / "clip.mp4").exists()


def _gradient(height: int, width: int, step: int) -> np.ndarray:
    frame = np.zeros((height, width, 3), dtype=np.uint8)
    frame[..., 0] = (np.arange(width) * 2 + step * 8) % 256
    frame[..., 1] = (np.arange(height)[:, None] * 2) % 256
    frame[..., 2] = 128
    return frame


def test_write_128_h264(tmp_path) -> None:
    path = tmp_path / "nested" / "dir" / "clip.mp4"
    with Mp4Writer(path, fps=30) as writer:
        for step in range(30):
            writer.append(annotate_frame(_gradient(128, 128, step), [f"step {step}"]))
    assert writer.frames_written == 30
    assert writer.output_size == (128, 128)
    info = probe_mp4(path)
    assert info["codec"] == "h264"
    assert info["pix_fmt"] == "yuv420p"
    assert info["frames"] == 30
    assert info["fps"] == pytest.approx(30.0)
    assert (info["width"], info["height"]) == (128, 128)


def test_odd_sizes_are_padded_to_16(tmp_path) -> None:
    path = tmp_path / "clip.mp4"
    with Mp4Writer(path, fps=15) as writer:
        for step in range(10):
            writer.append(_gradient(100, 100, step))
    assert writer.output_size == (112, 112)
    info = probe_mp4(path)
    assert (info["width"], info["height"]) == (112, 112)
    assert info["frames"] == 10
    assert info["fps"] == pytest.approx(15.0)


def test_frames_must_share_one_shape(tmp_path) -> None:
    with Mp4Writer(tmp_path / "clip.mp4") as writer:
        writer.append(_frame(128, 128))
        with pytest.raises(ValueError, match="one shape"):
            writer.append(_frame(64, 64))


def test_refuses_to_overwrite(tmp_path) -> None:
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"keep me")
    with pytest.raises(FileExistsError, match="overwrite=True") as excinfo:
        Mp4Writer(path)
    assert str(path) in str(excinfo.value)
    assert path.read_bytes() == b"keep me"

    with Mp4Writer(path, overwrite=True) as writer:
        writer.append(_frame())
    assert probe_mp4(path)["codec"] == "h264"


def test_no_frames_leaves_no_file(tmp_path) -> None:
    path = tmp_path / "empty.mp4"
    with Mp4Writer(path) as writer:
        pass
    assert writer.frames_written == 0
    assert not path.exists()


def test_probe_missing_file(tmp_path) -> None:
    with pytest.raises(FileNotFoundError):
        probe_mp4(tmp_path / "missing.mp4")


@pytest.mark.parametrize("name", ["clip.gif", "clip", "clip.webm"])
def test_refuses_containers_it_cannot_write_up_front(tmp_path, name: str) -> None:
    # FFmpeg itself would refuse them only at the first frame, after an episode has started.
    with pytest.raises(ValueError, match=r"end the name in one of \.mp4, \.mov, \.mkv, \.avi"):
        Mp4Writer(tmp_path / name)


@pytest.mark.parametrize("overwrite", [False, True])
def test_refuses_a_directory(tmp_path, overwrite: bool) -> None:
    with pytest.raises(IsADirectoryError, match="is a directory; give a file path"):
        Mp4Writer(tmp_path, overwrite=overwrite)


@pytest.mark.parametrize("name", ["clip.MP4", "clip.mov", "clip.mkv", "clip.avi"])
def test_other_containers_hold_h264(tmp_path, name: str) -> None:
    path = tmp_path / name
    with Mp4Writer(path, fps=10) as writer:
        for step in range(5):
            writer.append(_gradient(64, 64, step))
    info = probe_mp4(path)
    assert (info["codec"], info["frames"], info["fps"]) == ("h264", 5, pytest.approx(10.0))


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc, where no file can be made")
def test_a_video_ffmpeg_could_not_write_is_an_error_not_a_file() -> None:
    writer = Mp4Writer("/proc/no_video_here.mp4", fps=4)
    for _ in range(3):  # few frames: they fit in the pipe, so FFmpeg's failure shows only at close
        writer.append(np.zeros((64, 64, 3), dtype=np.uint8))
    with pytest.raises(OSError, match=r"FFmpeg wrote no video to /proc/no_video_here\.mp4"):
        writer.close()
